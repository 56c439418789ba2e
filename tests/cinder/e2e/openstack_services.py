"""Real OpenStack services started by hand for the end-to-end tests: a private RabbitMQ and
MariaDB, Glance (file store, no Keystone, SQLite) and Cinder's api, scheduler and volume services
(noauth), as
../shared/recipes/cinder.md records them. Everything lives under one temp dir, listens on
127.0.0.1 on free ports, and is stopped by the PID it was started with.

Debian's OpenStack runs on /usr/bin/python3; so do these tests. Standard library only, apart
from what Debian's OpenStack packages bring.
"""

import configparser
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
DRIVER_DIR = os.path.join(ROOT, 'integration', 'cinder')
API_VERSION = '3.70'

sys.path.insert(0, os.path.join(ROOT, 'script', 'lib'))
from localcluster import wait_for  # noqa: E402,F401 - also what the tests here import


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


class Service(object):
    """One process started here, in its own session, output to `log`; stop() ends it by its PID
    (SIGTERM, then SIGKILL to its own process group if it does not exit)."""

    def __init__(self, name, argv, log, env=None, cwd=None):
        self.name, self.argv, self.log, self.env, self.cwd = name, argv, log, env, cwd
        self.proc = None

    def start(self):
        with open(self.log, 'ab') as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=self.cwd, start_new_session=True)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever it forked stays in the process group this process leads.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def tail(path, lines=60):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError as e:
        return '(%s)' % e


class RabbitMQ(object):
    """A private broker: its own node name, AMQP, distribution and EPMD ports (so it cannot meet
    another broker on this machine), database and logs under `root`."""

    def __init__(self, root):
        self.root = os.path.join(root, 'rabbitmq')
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.services = []

    @property
    def url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, 'enabled_plugins'), 'w') as f:
            f.write('[].\n')
        env = dict(os.environ,
                   HOME=self.root, RABBITMQ_HOME='/usr/lib/rabbitmq',
                   ERL_EPMD_PORT=str(self.epmd_port), ERL_EPMD_ADDRESS='127.0.0.1',
                   RABBITMQ_NODENAME='tandem-e2e-%d@localhost' % self.port,
                   RABBITMQ_NODE_IP_ADDRESS='127.0.0.1', RABBITMQ_NODE_PORT=str(self.port),
                   RABBITMQ_DIST_PORT=str(self.dist_port),
                   RABBITMQ_MNESIA_BASE=os.path.join(self.root, 'mnesia'),
                   RABBITMQ_LOG_BASE=os.path.join(self.root, 'log'),
                   RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.root, 'enabled_plugins'),
                   RABBITMQ_CONFIG_FILE=os.path.join(self.root, 'rabbitmq'),
                   RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(self.root, 'advanced.config'),
                   RABBITMQ_CONF_ENV_FILE=os.path.join(self.root, 'rabbitmq-env.conf'),
                   RABBITMQ_PID_FILE=os.path.join(self.root, 'rabbitmq.pid'))
        # Our own EPMD in the foreground, so that it is our child and stops with the test.
        self.services.append(Service('epmd', ['epmd', '-port', str(self.epmd_port), '-address', '127.0.0.1'],
                                     os.path.join(self.root, 'epmd.log'), env).start())
        broker = Service('rabbitmq', ['/usr/lib/rabbitmq/bin/rabbitmq-server'],
                         os.path.join(self.root, 'rabbitmq.log'), env, cwd=self.root).start()
        self.services.append(broker)
        wait_for('RabbitMQ on port %d' % self.port,
                 lambda: port_open(self.port) or not broker.running(), 90)
        if not broker.running():
            raise RuntimeError('rabbitmq-server exited:\n' + tail(broker.log))
        self.env = env
        return self

    def consumed(self, queue):
        """Whether `queue` exists and has a consumer (a service's RPC server is listening: a call
        sent before that is lost and times out)."""
        p = subprocess.run(['/usr/lib/rabbitmq/bin/rabbitmqctl', '-q', 'list_queues', 'name', 'consumers'],
                           capture_output=True, text=True, env=self.env, timeout=60)
        rows = [line.split() for line in p.stdout.splitlines()]
        return any(len(r) == 2 and r[0] == queue and r[1].isdigit() and int(r[1]) > 0 for r in rows)

    def stop(self):
        for s in reversed(self.services):
            s.stop()

    def logs(self):
        return [s.log for s in self.services]


class MariaDB(object):
    """A private MariaDB for Cinder's database (SQLite shared by three services answers "database
    is locked" under the flow's load: the recipe saw it, and so did this test). Its own data dir,
    UNIX socket and TCP port on 127.0.0.1; a `cinder` user for the `cinder` database."""

    def __init__(self, root):
        self.root = os.path.join(root, 'mariadb')
        self.port = free_port()
        self.sock = os.path.join(self.root, 'sock')
        self.url = 'mysql+pymysql://cinder:cinder@127.0.0.1:%d/cinder?charset=utf8' % self.port
        self.service = None

    def start(self):
        data = os.path.join(self.root, 'data')
        os.makedirs(self.root, exist_ok=True)
        run(['mariadb-install-db', '--no-defaults', '--user=root', '--datadir=' + data], timeout=300)
        self.service = Service('mariadbd', [
            'mariadbd', '--no-defaults', '--user=root', '--datadir=' + data, '--socket=' + self.sock,
            '--port=%d' % self.port, '--bind-address=127.0.0.1',
            '--pid-file=' + os.path.join(self.root, 'mariadbd.pid')],
            os.path.join(self.root, 'mariadbd.log')).start()
        wait_for('MariaDB on port %d' % self.port, lambda: port_open(self.port) or not self.service.running(), 60)
        if not self.service.running():
            raise RuntimeError('mariadbd exited:\n' + tail(self.service.log))
        run(['mariadb', '--no-defaults', '-S', self.sock, '-u', 'root', '-e',
             "CREATE DATABASE cinder; CREATE USER 'cinder'@'127.0.0.1' IDENTIFIED BY 'cinder'; "
             "GRANT ALL ON cinder.* TO 'cinder'@'127.0.0.1';"])
        return self

    def stop(self):
        if self.service:
            self.service.stop(timeout=60)

    def logs(self):
        return [self.service.log] if self.service else []


def write_ini(path, sections, base=None):
    """Writes `sections` ({section: {key: value}}) into `path`, over the contents of `base`
    (another ini file) when given."""
    c = configparser.RawConfigParser(interpolation=None)
    c.optionxform = str
    if base:
        c.read(base)
    for section, values in sections.items():
        if section != 'DEFAULT' and not c.has_section(section):
            c.add_section(section)
        for k, v in values.items():
            c.set(section, k, str(v))
    with open(path, 'w') as f:
        c.write(f)
    return path


class Glance(object):
    """glance-api with the file store and no Keystone (paste flavor empty: every caller is admin)."""

    def __init__(self, root):
        self.root = os.path.join(root, 'glance')
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.service = None

    def start(self):
        for d in ('images', 'staging', 'lock'):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        conf = write_ini(os.path.join(self.root, 'glance-api.conf'), {
            'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': self.port, 'workers': 0,
                        'log_file': os.path.join(self.root, 'glance-api.log'),
                        'node_staging_uri': 'file://' + os.path.join(self.root, 'staging')},
            'database': {'connection': 'sqlite:///' + os.path.join(self.root, 'glance.sqlite')},
            'glance_store': {'stores': 'file', 'default_store': 'file',
                             'filesystem_store_datadir': os.path.join(self.root, 'images') + '/'},
            'paste_deploy': {'config_file': '/etc/glance/glance-api-paste.ini', 'flavor': ''},
            'oslo_concurrency': {'lock_path': os.path.join(self.root, 'lock')},
        })
        run(['/usr/bin/glance-manage', '--config-file', conf, 'db_sync'])
        self.service = Service('glance-api', ['/usr/bin/glance-api', '--config-file', conf],
                               os.path.join(self.root, 'glance-api.out'), cwd=self.root).start()
        wait_for('glance-api on port %d' % self.port,
                 lambda: self._answers() or not self.service.running(), 60)
        if not self.service.running():
            raise RuntimeError('glance-api exited:\n' + tail(self.service.log))
        return self

    def _answers(self):
        try:
            urllib.request.urlopen(self.url + '/', timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True  # it answers (300 Multiple Choices for the version list)
        except OSError:
            return False

    def call(self, method, path, body=None, raw=None, content_type='application/json'):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header('Content-Type', content_type)
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
            return resp.status, text

    def upload(self, name, data):
        """A raw/bare image holding `data`; returns its id."""
        _, text = self.call('POST', '/v2/images', {'name': name, 'disk_format': 'raw',
                                                   'container_format': 'bare'})
        image_id = json.loads(text)['id']
        self.call('PUT', '/v2/images/%s/file' % image_id, raw=data, content_type='application/octet-stream')
        return image_id

    def image(self, image_id):
        return json.loads(self.call('GET', '/v2/images/' + image_id)[1])

    def download(self, image_id):
        return self.call('GET', '/v2/images/%s/file' % image_id)[1]

    def delete(self, image_id):
        self.call('DELETE', '/v2/images/' + image_id)

    def stop(self):
        if self.service:
            self.service.stop()

    def logs(self):
        return [os.path.join(self.root, 'glance-api.log'), self.service.log] if self.service else []


def run(argv, timeout=120, env=None):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise AssertionError('%s exited %d:\n%s\n%s' % (' '.join(argv), p.returncode, p.stdout, p.stderr))
    return p.stdout


class CinderError(Exception):
    def __init__(self, status, body):
        super(CinderError, self).__init__('HTTP %s: %s' % (status, body))
        self.status, self.body = status, body


class Cinder(object):
    """cinder-api, cinder-scheduler and cinder-volume with the Tandem driver on PYTHONPATH.

    The configuration is `base_conf` (e.g. the cinder.conf the devstack plugin wrote, holding the
    backend section) or `backend` ({option: value} of a backend section named `backend_name`),
    plus the essentials of running by hand: noauth, the database, the broker, paths under `root`,
    `host` (Cinder's host name, which is what Cinder's own connector names: it must be a Tandem
    node's --name for the cinder-volume host to attach)."""

    def __init__(self, root, transport_url, database_url, host, backend_name, backend=None, base_conf=None,
                 glance_url=None):
        self.root = os.path.join(root, 'cinder')
        self.port = free_port()
        self.endpoint = 'http://127.0.0.1:%d/v3' % self.port
        self.host, self.backend_name = host, backend_name
        self.transport_url, self.backend, self.base_conf = transport_url, backend, base_conf
        self.glance_url = glance_url
        self.broker = None  # a RabbitMQ: start() waits until the scheduler consumes its queue
        self.services = []
        self.conf = os.path.join(self.root, 'cinder.conf')
        self.database_url = database_url
        self.env = dict(os.environ, PYTHONPATH=DRIVER_DIR, PYTHONDONTWRITEBYTECODE='1', HOME=self.root)

    def write_conf(self):
        for d in ('state', 'log', 'lock', 'conversion'):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        default = {
            'auth_strategy': 'noauth', 'transport_url': self.transport_url,
            'state_path': os.path.join(self.root, 'state'), 'log_dir': os.path.join(self.root, 'log'),
            'api_paste_config': '/etc/cinder/api-paste.ini', 'rootwrap_config': '/etc/cinder/rootwrap.conf',
            'osapi_volume_listen': '127.0.0.1', 'osapi_volume_listen_port': self.port,
            'osapi_volume_workers': 1, 'my_ip': '127.0.0.1', 'host': self.host,
            'enabled_backends': self.backend_name, 'default_volume_type': self.backend_name,
            'image_conversion_dir': os.path.join(self.root, 'conversion'),
            'verify_glance_signatures': 'disabled', 'debug': 'True',
            # Fast service reports: the scheduler sees the backend's pools within seconds.
            'report_interval': 5, 'periodic_interval': 5,
        }
        if self.glance_url:
            default['glance_api_servers'] = self.glance_url
        sections = {
            'DEFAULT': default,
            'database': {'connection': self.database_url},
            'oslo_concurrency': {'lock_path': os.path.join(self.root, 'lock')},
        }
        if self.backend is not None:
            sections[self.backend_name] = dict(self.backend, volume_backend_name=self.backend_name)
        write_ini(self.conf, sections, base=self.base_conf)

    def start(self):
        self.write_conf()
        run(['/usr/bin/cinder-manage', '--config-file', self.conf, 'db', 'sync'], timeout=300, env=self.env)
        for name in ('cinder-api', 'cinder-scheduler', 'cinder-volume'):
            self.services.append(Service(name, ['/usr/bin/python3', '/usr/bin/' + name, '--config-file', self.conf],
                                         os.path.join(self.root, name + '.out'), self.env, cwd=self.root).start())
        wait_for('cinder-api on port %d' % self.port, lambda: port_open(self.port) or self.dead(), 60)
        self.check_running()
        # The scheduler places nothing until the volume service has reported its pools.
        if self.broker is not None:
            wait_for("the scheduler's RPC server", lambda: self.broker.consumed('cinder-scheduler') or self.dead(),
                     90, 1)
            self.check_running()
        wait_for('cinder-volume %s@%s up with its pools' % (self.host, self.backend_name),
                 lambda: self.backend_pools() or self.dead(), 90)
        self.check_running()
        # The default volume type (default_volume_type), as devstack makes one per backend: Cinder
        # refuses some requests (type-delete, a create without a type) while it is missing.
        if self.backend_name not in [t['name'] for t in self.rest('GET', '/types')['volume_types']]:
            self.cli('type-create', self.backend_name)
            self.cli('type-key', self.backend_name, 'set', 'volume_backend_name=' + self.backend_name)
        return self

    def dead(self):
        return [s.name for s in self.services if not s.running()]

    def check_running(self):
        dead = self.dead()
        if dead:
            raise RuntimeError('%s exited:\n%s' % (', '.join(dead), self.log_text()))

    def backend_pools(self):
        """The pools the scheduler has of our backend, once the scheduler and the volume service
        are up (os-services at 3.0 reads the database only; later versions and get_pools ask the
        scheduler over RPC, which a scheduler still starting never answers)."""
        services = self.rest('GET', '/os-services', version='3.0')['services']
        up = {(s['binary'], s['host']) for s in services if s['state'] == 'up'}
        if not {('cinder-scheduler', self.host), ('cinder-volume', '%s@%s' % (self.host, self.backend_name))} <= up:
            return None
        pools = self.rest('GET', '/scheduler-stats/get_pools?detail=True')['pools']
        return [p for p in pools if p['name'].startswith('%s@%s#' % (self.host, self.backend_name))]

    def stop(self):
        for s in reversed(self.services):
            s.stop()

    def logs(self):
        out = [s.log for s in self.services]
        logdir = os.path.join(self.root, 'log')
        if os.path.isdir(logdir):
            out += [os.path.join(logdir, n) for n in sorted(os.listdir(logdir))]
        return out

    def log_text(self, lines=60):
        return '\n'.join('----- %s (last lines)\n%s' % (p, tail(p, lines)) for p in self.logs())

    # -- clients
    def cli(self, *args, timeout=120):
        """Runs the `cinder` CLI (API 3.70, noauth as admin); returns its stdout, fails with its
        output when it exits non-zero."""
        argv = ['/usr/bin/python3', '/usr/bin/cinder', '--os-auth-type', 'noauth', '--os-user-id', 'admin',
                '--os-project-id', 'admin', '--os-endpoint', self.endpoint,
                '--os-volume-api-version', API_VERSION] + [str(a) for a in args]
        return run(argv, timeout=timeout, env=self.env)

    @staticmethod
    def table(text):
        """The Property/Value table the cinder CLI prints, as a dict."""
        rows = {}
        for line in text.splitlines():
            if line.startswith('|'):
                cells = [c.strip() for c in line.strip().strip('|').split('|')]
                if len(cells) == 2 and cells[0] not in ('Property', 'Key'):
                    rows[cells[0]] = cells[1]
        return rows

    def rest(self, method, path, body=None, version=API_VERSION):
        """Cinder's REST API (noauth token admin:admin); returns the decoded answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        req.add_header('X-Auth-Token', 'admin:admin')
        req.add_header('OpenStack-API-Version', 'volume ' + version)
        req.add_header('Accept', 'application/json')
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise CinderError(e.code, e.read().decode(errors='replace')) from None

    def volume(self, volume_id):
        return self.rest('GET', '/volumes/' + volume_id)['volume']

    def snapshot(self, snapshot_id):
        return self.rest('GET', '/snapshots/' + snapshot_id)['snapshot']

    def messages(self, resource_id):
        msgs = self.rest('GET', '/messages')['messages']
        return [m['user_message'] for m in msgs if m.get('resource_uuid') == resource_id]

    def wait_status(self, kind, object_id, status, timeout=180, **expect):
        """Waits until the volume or snapshot `object_id` has `status` (and the fields `expect`);
        an error status fails at once with Cinder's user messages."""
        get = self.volume if kind == 'volume' else self.snapshot

        def reached():
            self.check_running()
            obj = get(object_id)
            if obj['status'].startswith('error') and not status.startswith('error'):
                raise AssertionError('%s %s is %s: %s' % (kind, object_id, obj['status'],
                                                          self.messages(object_id)))
            if obj['status'] == status and all(obj.get(k) == v for k, v in expect.items()):
                return obj
            return None
        return wait_for('%s %s to be %s %s' % (kind, object_id, status, expect or ''), reached, timeout, 0.5)

    def wait_gone(self, kind, object_id, timeout=180):
        get = self.volume if kind == 'volume' else self.snapshot

        def gone():
            self.check_running()
            try:
                obj = get(object_id)
            except CinderError as e:
                if e.status == 404:
                    return True
                raise
            if obj['status'].startswith('error'):
                raise AssertionError('%s %s is %s: %s' % (kind, object_id, obj['status'],
                                                          self.messages(object_id)))
            return False
        wait_for('%s %s to be deleted' % (kind, object_id), gone, timeout, 0.5)


def dump(paths, out=sys.stderr, lines=60):
    for p in paths:
        print('----- %s (last lines)\n%s' % (p, tail(p, lines)), file=out)


class OpenStack(object):
    """RabbitMQ, MariaDB, Glance (when it can run here: else `glance` is None and
    `glance_reason` says why) and Cinder, started in that order; stop() stops whatever started,
    in reverse."""

    def __init__(self, root, host, backend_name, backend=None, base_conf=None):
        self.root, self.host, self.backend_name = root, host, backend_name
        self.backend, self.base_conf = backend, base_conf
        self.rabbit, self.glance, self.glance_reason, self.cinder = None, None, None, None
        self.started = []

    def start(self):
        self.rabbit = RabbitMQ(self.root)
        self.started.append(self.rabbit)
        self.rabbit.start()
        self.mariadb = MariaDB(self.root)
        self.started.append(self.mariadb)
        self.mariadb.start()
        glance = Glance(self.root)
        self.started.append(glance)
        try:
            self.glance = glance.start()
        except Exception as e:  # noqa: BLE001 - the image copy step says why it skips
            self.glance_reason = 'glance-api did not start: %s' % e
        self.cinder = Cinder(self.root, self.rabbit.url, self.mariadb.url, self.host, self.backend_name, backend=self.backend,
                             base_conf=self.base_conf, glance_url=self.glance.url if self.glance else None)
        self.cinder.broker = self.rabbit
        self.started.append(self.cinder)
        self.cinder.start()
        return self

    def stop(self):
        for s in reversed(self.started):
            s.stop()

    def logs(self):
        return [p for s in self.started for p in s.logs()]
