"""Tandem in real Cinder services (issue 11 item 3): a 3-node Tandem cluster of this build,
a private RabbitMQ and MariaDB, Glance (file store, no Keystone) and cinder-api, cinder-scheduler and
cinder-volume (noauth, MariaDB, the Tandem backend in enabled_backends, the driver on
PYTHONPATH), driven through the `cinder` CLI by cinder_flow.CinderFlow.

Cinder's `host` is the Tandem node `node1`, so the connector this host builds (os-brick) names
a node and attachments make a real block device here (FUSE + loop). Needs root, /dev/fuse,
loop devices and Debian's OpenStack packages (script/deps test installs them). A failure
prints the Cinder, Glance, RabbitMQ and Tandem logs; every process started here is stopped by
its PID, and no mount, loop device or tandem-disk-fuse process is left behind.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'script', 'lib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from localcluster import ApiError, LocalCluster  # noqa: E402
from test_attachments import disk_fuse_processes_under, loop_devices_under, mounts_under  # noqa: E402

import openstack_services as services  # noqa: E402
from cinder_flow import CinderFlow  # noqa: E402

BIN_DIR = os.environ.get('TANDEM_BIN_DIR') or os.path.join(ROOT, 'build', 'test', 'bin')
NODE = 'node1'  # Cinder's host: a Tandem node on this host
REPLICAS = 3


def release_attachments(api):
    """Force-detaches every attachment a failed run left (the devices would outlive the nodes)."""
    for v in api.get('/v1/volumes')['volumes']:
        for a in api.get('/v1/volumes/%s/attachments' % v['name'])['attachments']:
            try:
                api.call('DELETE', '/v1/volumes/%s/attachments/%s?force=true' % (v['name'], a['host']))
            except ApiError:
                pass


def force_clean(root):
    """Last resort after a failure (the test still fails): the loop devices, tandem-disk-fuse
    processes (started by this test's nodes) and mounts under `root` go, so that nothing stays on
    the machine."""
    for dev in loop_devices_under(root):
        subprocess.run(['losetup', '-d', dev], check=False)
    for pid in disk_fuse_processes_under(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for m in reversed(mounts_under(root)):
        subprocess.run(['umount', '-l', m], check=False)


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists('/dev/fuse'), 'needs root and /dev/fuse')
class RealCinderTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='tandem-cinder-e2e-')
        self.started = []
        self.addCleanup(self.cleanup)
        self.cluster = LocalCluster(os.path.join(self.tmp, 'tandem'), BIN_DIR, nodes=REPLICAS)
        self.started.append(self.cluster)
        self.cluster.start()
        self.cluster.api.post('/v1/resource-groups', {'name': 'cinder', 'replicas': REPLICAS})
        self.openstack = services.OpenStack(self.tmp, NODE, 'tandem', backend={
            'volume_driver': 'tandem_cinder.driver.TandemDriver',
            'tandem_controller_urls': self.cluster.url,
            'tandem_token_file': self.cluster.service_token_file,
            'tandem_ca_file': self.cluster.ca,
            'tandem_default_resource_group': 'cinder',
            'tandem_ready_timeout': 900,
        })
        self.started.append(self.openstack)
        self.openstack.start()

    def logs(self):
        root = self.cluster.root
        openstack = getattr(self, 'openstack', None)
        return (openstack.logs() if openstack else []) + [
            os.path.join(root, n) for n in sorted(os.listdir(root)) if n.endswith('.log')]

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            services.dump(self.logs())
        if os.environ.get('TANDEM_KEEP_TMP'):
            print('kept', self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)  # after the logs were shown
        return out

    def cleanup(self):
        for s in reversed(self.started):
            if s is self.cluster:
                continue
            s.stop()
        if self.cluster.api:
            try:
                release_attachments(self.cluster.api)
            except Exception as e:  # noqa: BLE001 - the controller may be down after a failure
                print('releasing attachments failed: %s' % e, file=sys.stderr)
            try:
                services.wait_for('no loop device of the test', lambda: not loop_devices_under(self.tmp), 30)
                services.wait_for('no tandem-disk-fuse of the test',
                                  lambda: not disk_fuse_processes_under(self.tmp), 60)
            finally:
                self.cluster.stop()
        left = (loop_devices_under(self.tmp), mounts_under(self.tmp), disk_fuse_processes_under(self.tmp))
        force_clean(self.tmp)
        self.assertEqual(([], [], []), left, 'loop devices, mounts, tandem-disk-fuse left behind')

    def test_cinder_cli_against_real_services(self):
        o = self.openstack
        flow = CinderFlow(self, o.cinder, self.cluster.api, NODE, REPLICAS, self.cluster.backing_file,
                          glance=o.glance, glance_reason=o.glance_reason).run()
        self.assertIn('revert', flow.ran)
        # Nothing left in the nodes' pools either: every replica file and snapshot copy is gone.
        def pools_empty():
            return all(not os.listdir(self.cluster.pool_dir(n)) for n in self.cluster.nodes) or [
                (n, os.listdir(self.cluster.pool_dir(n))) for n in self.cluster.nodes]
        services.wait_for('empty storage pools', lambda: pools_empty() is True, 60)


if __name__ == '__main__':
    unittest.main()
