"""The devstack plugin's phases, run for real on this machine.

run_phases.sh sources devstack/settings, override-defaults and plugin.sh exactly as stack.sh,
unstack.sh and clean.sh do, with tests/devstack/devstack_functions.sh standing in for devstack's
functions. The controller and a node worker (TANDEM_BUILD_DIR = this build's binaries) really start
on a loop-mounted XFS pool; the test then reads the cinder.conf and tempest.conf the plugin wrote,
asks the controller for the node and the resource group, drives the real Cinder driver with the
written backend section (setup checks, capacity, create/delete a volume), runs the real-Cinder
flow of tests/cinder/e2e (cinder_flow.py: RabbitMQ, Glance and Cinder's services started with
that cinder.conf, driven through the cinder CLI, attachments on the plugin's node), and checks
that unstack and clean leave no process, mount or file behind.
Needs root (mount), Debian's /usr/bin/python3 with python3-cinder.
"""

import configparser
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'cinder', 'e2e'))
sys.path.insert(0, os.path.join(ROOT, 'script', 'lib'))
import openstack_services  # noqa: E402
from cinder_flow import CinderFlow  # noqa: E402
from localcluster import Api  # noqa: E402

BIN_DIR = os.environ.get('TANDEM_BIN_DIR') or os.path.join(ROOT, 'build', 'test', 'bin')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def processes_mentioning(text):
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in cmdline:
            found.append((int(pid), cmdline))
    return found


def read(path):
    with open(path) as f:
        return f.read()


def mounts_under(path):
    with open('/proc/mounts') as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path)]


# Runs TandemDriver with the backend section the plugin wrote, the way cinder-volume would
# (oslo.config reading cinder.conf, a Configuration for the backend group).
DRIVER_CHECK = textwrap.dedent('''
    import configparser, json, sys, uuid
    from oslo_config import cfg
    from oslo_utils import importutils
    from cinder import objects
    from cinder.volume import configuration
    from cinder.volume import driver as cinder_driver
    from tandem_cinder import driver as tandem
    objects.register_all()
    cfg.CONF(['--config-file', sys.argv[1]], project='cinder')
    backend = cfg.CONF.enabled_backends[0]
    conf = configuration.Configuration(cinder_driver.volume_opts, config_group=backend)
    conf.append_config_values(tandem.tandem_opts)
    raw = configparser.RawConfigParser()
    raw.read(sys.argv[1])
    driver_class = importutils.import_class(raw.get(backend, 'volume_driver'))  # as Cinder loads it
    d = driver_class(configuration=conf)
    d.do_setup(None)
    d.check_for_setup_error()
    stats = d.get_volume_stats(refresh=True)
    vol = objects.Volume(id=str(uuid.uuid4()), size=1, host='devstack@%s#cinder' % backend,
                         volume_type_id=None, _name_id=None)
    d.create_volume(vol)
    d.delete_volume(vol)
    d.delete_volume(vol)  # already gone: still fine
    print(json.dumps({'stats': stats, 'volume': tandem.volume_name(vol)}))
''')


class DevstackPluginTest(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to loop-mount the pool')
        self.tmp = tempfile.mkdtemp(prefix='tandem-devstack-')
        self.port = free_port()
        self.env = dict(
            os.environ,
            DEST=os.path.join(self.tmp, 'stack'),
            DATA_DIR=os.path.join(self.tmp, 'data'),
            TANDEM_CONF_DIR=os.path.join(self.tmp, 'etc-tandem'),
            TANDEM_BUILD_DIR=BIN_DIR,
            TANDEM_CONTROLLER_HOST='127.0.0.1',
            TANDEM_CONTROLLER_PORT=str(self.port),
            TANDEM_NODE_NAME='devstack-node1',
            TANDEM_NODE_ADDRESS='127.0.0.1',
            TANDEM_NBD_PORT='0',
            TANDEM_REPLICATION_PORT='0',
            # The real-Cinder flow's volumes (up to 3 GiB) must fit: Tandem refuses a volume larger than a pool.
            TANDEM_POOL_SIZE='6G',
            HOST_IP='127.0.0.1',
            SERVICE_HOST='127.0.0.1',
            STACK_USER='root',
            CINDER_CONF=os.path.join(self.tmp, 'cinder.conf'),
            TEMPEST_CONFIG=os.path.join(self.tmp, 'tempest.conf'),
            ENABLED_SERVICES='c-api,c-sch,c-vol,tempest',
            SERVICE_DIR=os.path.join(self.tmp, 'status'),
            LOGDIR=os.path.join(self.tmp, 'logs'),
            HARNESS_LOG=os.path.join(self.tmp, 'harness.log'),
            PYTHONDONTWRITEBYTECODE='1',
        )
        os.makedirs(self.env['DEST'])
        self.addCleanup(self.cleanup)

    def cleanup(self):
        # Whatever a failed run left: processes of this temp dir, then its mounts.
        for pid, _ in processes_mentioning(self.tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for mount in mounts_under(self.tmp):
            subprocess.run(['umount', '-l', mount], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def phase(self, mode):
        p = subprocess.run([os.path.join(HERE, 'run_phases.sh'), mode], env=self.env,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            self.dump_logs()
            self.fail('%s exited %d:\n%s\n%s' % (mode, p.returncode, p.stdout, p.stderr))
        return p

    def dump_logs(self):
        logdir = self.env['LOGDIR']
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            with open(os.path.join(logdir, name), errors='replace') as f:
                print('----- %s (last lines)\n%s' % (name, ''.join(f.readlines()[-40:])), file=sys.stderr)

    def api(self, path, token_role='admin'):
        conf = self.env['TANDEM_CONF_DIR']
        with open(os.path.join(conf, token_role + '.token')) as f:
            token = f.read().strip()
        req = urllib.request.Request('https://127.0.0.1:%d%s' % (self.port, path),
                                     headers={'Authorization': 'Bearer ' + token})
        ctx = ssl.create_default_context(cafile=os.path.join(conf, 'ca.pem'))
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return json.loads(resp.read())

    def real_cinder_flow(self):
        node = self.env['TANDEM_NODE_NAME']
        pool_dir = os.path.join(self.env['DATA_DIR'], 'tandem', 'pool')

        def backing_file(node_name, volume_uuid):
            self.assertEqual(node, node_name)
            found = [e for e in os.listdir(pool_dir) if e.startswith(volume_uuid) and '@' not in e]
            self.assertEqual(1, len(found), os.listdir(pool_dir))
            return os.path.join(pool_dir, found[0])

        conf = self.env['TANDEM_CONF_DIR']
        admin = Api('https://127.0.0.1:%d' % self.port, read(os.path.join(conf, 'admin.token')).strip(),
                    os.path.join(conf, 'ca.pem'))
        openstack = openstack_services.OpenStack(os.path.join(self.tmp, 'openstack'), node, 'tandem',
                                                 base_conf=self.env['CINDER_CONF'])
        try:
            openstack.start()
            CinderFlow(self, openstack.cinder, admin, node, 1, backing_file, group='cinder',
                       glance=openstack.glance, glance_reason=openstack.glance_reason).run()
        except BaseException:
            openstack_services.dump(openstack.logs())
            self.dump_logs()
            raise
        finally:
            openstack.stop()

    def read_ini(self, path):
        c = configparser.RawConfigParser(interpolation=None)
        c.optionxform = str
        self.assertEqual([path], c.read(path))
        return c

    def test_stack_unstack_clean(self):
        self.phase('stack')
        conf_dir = self.env['TANDEM_CONF_DIR']

        # cinder.conf: the backend section devstack's lib/cinder asked the plugin for.
        cinder = self.read_ini(self.env['CINDER_CONF'])
        self.assertEqual('tandem', cinder.get('DEFAULT', 'enabled_backends'))
        self.assertEqual({
            'volume_backend_name': 'tandem',
            'volume_driver': 'tandem_cinder.driver.TandemDriver',
            'tandem_controller_urls': 'https://127.0.0.1:%d' % self.port,
            'tandem_token_file': os.path.join(conf_dir, 'service.token'),
            'tandem_ca_file': os.path.join(conf_dir, 'ca.pem'),
            'tandem_default_resource_group': 'cinder',
        }, {k: v for k, v in cinder.items('tandem') if k not in cinder.defaults()})

        # tempest.conf: the driver's real feature set.
        tempest = self.read_ini(self.env['TEMPEST_CONFIG'])
        features = dict(tempest.items('volume-feature-enabled'))
        self.assertEqual({'snapshot': 'True', 'clone': 'True', 'volume_revert': 'True',
                          'manage_volume': 'True', 'manage_snapshot': 'False',
                          'extend_attached_volume': 'False',
                          'extend_attached_encrypted_volume': 'False'}, features)
        self.assertEqual('Tandem', tempest.get('volume', 'vendor_name'))

        # The controller answers; the node is online with the loop-mounted pool; the group exists.
        self.assertEqual('v1', self.api('/v1/version')['api_version'])
        nodes = self.api('/v1/nodes')['nodes']
        self.assertEqual([('devstack-node1', 'online')], [(n['name'], n['state']) for n in nodes])
        pool_dir = os.path.join(self.env['DATA_DIR'], 'tandem', 'pool')
        self.assertEqual([pool_dir], mounts_under(self.tmp))
        pools = self.api('/v1/storage-pools')['storage_pools']
        self.assertEqual(['default'], [p['name'] for p in pools])
        self.assertGreater(pools[0]['total_bytes'], 2 ** 30)
        self.assertLess(pools[0]['total_bytes'], 6 * 2 ** 30)
        group = self.api('/v1/resource-groups/cinder', token_role='service')
        self.assertEqual((1, True, 20), (group['replicas'], group['thin'], group['overprovision']))
        log = read(self.env['HARNESS_LOG'])
        self.assertIn('pip_install %s' % os.path.join(ROOT, 'integration', 'cinder'), log)

        # The real driver, configured by the cinder.conf the plugin wrote, against the real
        # controller: setup checks, capacity, and a volume created (until available) and deleted.
        p = subprocess.run(['/usr/bin/python3', '-c', DRIVER_CHECK, self.env['CINDER_CONF']],
                           env=dict(self.env, PYTHONPATH=os.path.join(ROOT, 'integration', 'cinder')),
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            self.dump_logs()
        self.assertEqual(0, p.returncode, p.stdout + p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        pool = out['stats']['pools'][0]
        self.assertEqual(('cinder', 'tandem', 'up'),
                         (pool['pool_name'], out['stats']['storage_protocol'], pool['backend_state']))
        self.assertEqual(round(pools[0]['total_bytes'] / 2 ** 30, 2), pool['total_capacity_gb'])
        self.assertEqual(20.0, pool['max_over_subscription_ratio'])
        self.assertEqual([], self.api('/v1/volumes')['volumes'])

        # The same real-Cinder flow as tests/cinder/e2e, in real Cinder services configured by the
        # cinder.conf the plugin wrote (plus what running them by hand needs: noauth, SQLite, a
        # broker), on the plugin's single node with one replica.
        self.real_cinder_flow()

        pids = [int(read(os.path.join(self.env['SERVICE_DIR'], s + '.pid')))
                for s in ('tandem-ctl', 'tandem-node')]
        self.phase('unstack')
        for pid in pids:
            self.assertFalse(os.path.exists('/proc/%d' % pid), 'process %d still runs' % pid)
        self.assertEqual([], processes_mentioning(self.tmp))
        self.assertTrue(os.path.exists(conf_dir))  # unstack keeps state, clean removes it

        self.phase('clean')
        self.assertEqual([], mounts_under(self.tmp))
        self.assertFalse(os.path.exists(conf_dir))
        self.assertFalse(os.path.exists(os.path.join(self.env['DATA_DIR'], 'tandem')))
        self.assertEqual([], processes_mentioning(self.tmp))


if __name__ == '__main__':
    unittest.main()
