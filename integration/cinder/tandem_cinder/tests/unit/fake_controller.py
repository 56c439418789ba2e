"""An in-process fake Tandem controller: a real HTTPS server on 127.0.0.1 (port 0) with a
throw-away CA, answering the REST contract the driver is written against (docs/openapi.yaml plus
the routes of issues 9 and 10 as integration/cinder/API_ASSUMPTIONS.md describes them).

State lives in plain dicts the tests read directly. ``fail()`` makes the next matching request
answer an error; ``unavailable`` makes every request answer 503; ``creating_polls`` keeps new
volumes and snapshots ``creating`` for that many GETs, ``attaching_polls`` new attachments
``attaching`` for that many GETs of the list (then ``attached``, or ``error`` with
``attach_error`` as reason when set). ``native_clone = False`` answers a clone (a source volume
without a snapshot) 422 ``not_implemented``, as main did before commit 224ced5.
"""

import datetime
import http.server
import json
import os
import re
import socket
import ssl
import threading
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
import ipaddress

GI = 1024 ** 3
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')


def make_ca(directory, tag):
    """Writes <tag>-ca.pem, <tag>-server.pem and <tag>-server.key (127.0.0.1/localhost) into
    ``directory``; returns (ca_path, cert_path, key_path)."""
    now = datetime.datetime.utcnow()

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name(tag + ' test CA')).issuer_name(name(tag + ' test CA'))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name('localhost')).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(directory, tag + n) for n in ('-ca.pem', '-server.pem', '-server.key')]
    with open(paths[0], 'wb') as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


def busy_controller(test, directory, others):
    """A second fake controller that answers 503 to everything, started for ``test`` (stopped at
    its end), and a CA bundle trusting it and ``others``; returns (controller, bundle path)."""
    busy = FakeController(directory, tag='busy').start()
    test.addCleanup(busy.stop)
    busy.unavailable = True
    bundle = os.path.join(directory, 'bundle.pem')
    with open(bundle, 'w') as out:
        for ca in [busy.ca] + [o.ca for o in others]:
            with open(ca) as f:
                out.write(f.read())
    return busy, bundle


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeController(object):
    def __init__(self, directory, tag='fake', token='service-token'):
        self.ca, cert, key = make_ca(directory, tag)
        self.token = token
        self.forbidden_tokens = set()
        self.api_version = 'v1'
        self.unavailable = False
        self.creating_polls = 0
        self.attaching_polls = 0
        self.attach_error = None
        self.native_clone = True
        self.stream_limit = None  # stop a data stream after this many bytes (a broken connection)
        self.raw_answer = None  # (status, bytes): the next request gets exactly this body
        self.requests = []  # (method, path, query dict, JSON body or byte count)
        self._failures = []
        self.lock = threading.Lock()
        self.groups = {}
        self.storage_pools = []
        self.volumes = {}
        self.backings = {}  # (node, pool, backing_name) -> size_bytes, for adopt
        self.nodes = {'node1', 'node2', 'node3'}
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = type('Handler', (_Handler,), {'fake': self})
        self.server = _Server(('127.0.0.1', 0), handler)
        # The TLS handshake happens at the handler thread's first read, not in accept().
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.url = 'https://127.0.0.1:%d' % self.server.server_address[1]
        self._stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        # An accept loop of our own instead of serve_forever(): socketserver's selector may be
        # imported before eventlet patches it (Cinder's tests run under eventlet), and a blocking
        # select there would stop every green thread. accept() on the patched socket is cooperative.
        while True:
            try:
                request, address = self.server.socket.accept()
            except ssl.SSLError:
                continue
            except OSError:
                return
            if self._stopping:
                request.close()
                return
            self.server.process_request(request, address)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stopping = True
        try:
            socket.create_connection(self.server.server_address, timeout=5).close()
        except OSError:
            pass
        self.thread.join(10)
        self.server.server_close()

    # -- test controls
    def add_group(self, name, replicas=2, thin=True, overprovision=20.0, pools=(), **extra):
        self.groups[name] = dict(name=name, uuid=str(uuid.uuid4()), replicas=replicas, engine='native',
                                 thin=thin, overprovision=overprovision if thin else 1.0, quorum='off',
                                 pools=list(pools), replicas_on_different=[], **extra)

    def add_pool(self, node, name, total, free, provisioned=0, state='online', thin=True):
        self.storage_pools.append(dict(node=node, name=name, provider='file', total_bytes=total,
                                       free_bytes=free, provisioned_bytes=provisioned, thin=thin,
                                       snapshots=True, state=state))

    def fail(self, method, path_regex, status, code, message='injected failure', times=1):
        """The next ``times`` requests matching method and path answer this error."""
        self._failures.append([method, re.compile(path_regex), status, code, message, times])

    def calls(self, method=None, prefix=''):
        return [r for r in self.requests if (method is None or r[0] == method) and r[1].startswith(prefix)]

    # -- request handling (under self.lock)
    def handle(self, method, path, query, headers, body_reader):
        self.requests.append((method, path, query, None))
        if self.unavailable:
            raise ApiError(503, 'unavailable', 'controller shutting down')
        for f in self._failures:
            if f[0] == method and f[1].search(path) and f[5] > 0:
                f[5] -= 1
                raise ApiError(f[2], f[3], f[4])
        segments = [urllib.parse.unquote(s) for s in path.split('/') if s]
        if segments == ['v1', 'version'] and method == 'GET':
            return 200, {'version': '0.1.0-fake', 'api_version': self.api_version}
        auth = headers.get('Authorization', '')
        token = auth[7:] if auth.lower().startswith('bearer ') else None
        if token in self.forbidden_tokens:
            raise ApiError(403, 'permission_denied', 'this token may only register nodes')
        if token != self.token:
            raise ApiError(401, 'unauthenticated', 'missing or invalid bearer token')
        if segments[:1] != ['v1']:
            raise ApiError(404, 'route_not_found', 'no route ' + path)
        rest = segments[1:]
        if method in ('POST', 'PATCH') or (method == 'PUT' and rest[-1:] != ['data']):
            raw = body_reader()
            try:
                body = json.loads(raw or b'{}')
            except ValueError:
                raise ApiError(400, 'malformed_json', 'body is not JSON')
            if not isinstance(body, dict):
                raise ApiError(400, 'malformed_json', 'body is not an object')
            self.requests[-1] = (method, path, query, body)
        else:
            body = None
        return self.route(method, rest, query, body, headers, body_reader)

    def route(self, method, rest, query, body, headers, body_reader):
        if rest == ['resource-groups'] and method == 'GET':
            return 200, {'resource_groups': [self.groups[k] for k in sorted(self.groups)]}
        if len(rest) == 2 and rest[0] == 'resource-groups' and method == 'GET':
            return 200, self._group(rest[1])
        if rest == ['storage-pools'] and method == 'GET':
            return 200, {'storage_pools': self.storage_pools}
        if rest == ['volumes'] and method == 'POST':
            return self._create_volume(body)
        if rest[:1] != ['volumes'] or len(rest) < 2:
            raise ApiError(404, 'route_not_found', 'no route')
        if rest[2:] == ['adopt'] and method == 'POST':
            return self._adopt(rest[1], body)
        vol = self._volume(rest[1])
        tail = rest[2:]
        if not tail:
            if method == 'GET':
                return 200, self._view(vol, poll=True)
            if method == 'DELETE':
                if vol['attachments']:
                    raise ApiError(409, 'volume_attached', 'volume %s is attached' % vol['name'])
                if vol['snapshots'] and query.get('cascade') != 'true':
                    raise ApiError(409, 'volume_has_snapshots', 'volume %s has snapshots' % vol['name'])
                del self.volumes[vol['name']]
                return 204, None
            if method == 'PATCH':
                return 200, self._patch(vol, body)
        if tail == ['snapshots'] and method == 'POST':
            return self._create_snapshot(vol, body)
        if tail == ['snapshots'] and method == 'GET':
            return 200, {'snapshots': [self._snap_view(vol, s) for s in vol['snapshots'].values()]}
        if len(tail) >= 2 and tail[0] == 'snapshots':
            snap = vol['snapshots'].get(tail[1])
            if snap is None:
                raise ApiError(404, 'snapshot_not_found', 'snapshot %s of %s does not exist' % (tail[1], vol['name']))
            if len(tail) == 2 and method == 'GET':
                return 200, self._snap_view(vol, snap, poll=True)
            if len(tail) == 2 and method == 'DELETE':
                del vol['snapshots'][snap['name']]
                return 204, None
            if tail[2:] == ['revert'] and method == 'POST':
                if vol['attachments']:
                    raise ApiError(409, 'volume_attached', 'revert needs a detached volume')
                # As the controller does: the size stays, and the volume is
                # 'creating' until its primary has reverted.
                vol['data'] = bytearray(snap['data'])
                vol['polls'] = self.creating_polls
                return 200, self._view(vol)
        if tail == ['attachments'] and method == 'POST':
            return self._attach(vol, body)
        if tail == ['attachments'] and method == 'GET':
            for host, att in vol['attachments'].items():
                polls = vol['attach_polls'].get(host, 0)
                if att['state'] == 'attaching' and polls <= 1:
                    att['state'] = 'error' if self.attach_error else 'attached'
                    att['reason'] = self.attach_error or ''
                vol['attach_polls'][host] = polls - 1
            return 200, {'attachments': list(vol['attachments'].values())}
        if len(tail) == 2 and tail[0] == 'attachments' and method == 'DELETE':
            att = vol['attachments'].get(tail[1])
            if att is not None:
                if att.get('busy') and query.get('force') != 'true':
                    raise ApiError(409, 'device_busy', '/dev/tandem/%s is open on %s' % (vol['name'], tail[1]))
                del vol['attachments'][tail[1]]
            return 204, None
        if tail == ['forget'] and method == 'POST':
            del self.volumes[vol['name']]
            return 200, self._view(vol)
        if tail == ['data'] and method == 'GET':
            return 200, Stream(bytes(vol['data']), vol['size_bytes'])
        if tail == ['data'] and method == 'PUT':
            # The controller's rules (docs/openapi.yaml importVolumeData): without Content-Range
            # the body is the whole volume; with "bytes a-b/size|*" it is bytes a..b.
            length = int(headers.get('Content-Length', '-1'))
            if length < 0:
                raise ApiError(411, 'length_required', 'Content-Length is required')
            size = vol['size_bytes']
            content_range = headers.get('Content-Range')
            if content_range is None:
                if length > size:
                    raise ApiError(413, 'body_exceeds_volume', '%d bytes do not fit in %d' % (length, size))
                if length < size:
                    raise ApiError(400, 'length_mismatch', '%d bytes, fewer than %d: send a Content-Range'
                                   % (length, size))
                first = 0
            else:
                m = re.match(r'^bytes (\d+)-(\d+)/(\d+|\*)$', content_range)
                if not m or int(m.group(2)) < int(m.group(1)):
                    raise ApiError(400, 'invalid_range', 'bad Content-Range ' + content_range)
                first, last = int(m.group(1)), int(m.group(2))
                if last >= size:
                    raise ApiError(413, 'body_exceeds_volume', 'range ends past %d' % size)
                if length != last - first + 1:
                    raise ApiError(400, 'length_mismatch', 'Content-Length does not match ' + content_range)
            data = body_reader()
            self.requests[-1] = (self.requests[-1][0], self.requests[-1][1], query, len(data))
            if len(vol['data']) < first + len(data):
                vol['data'].extend(bytes(first + len(data) - len(vol['data'])))
            vol['data'][first:first + len(data)] = data
            return 200, dict(volume=vol['name'], offset=first, bytes_written=len(data), zero_bytes=0, size_bytes=size)
        raise ApiError(405, 'method_not_allowed', 'method not allowed')

    def _group(self, name):
        if name not in self.groups:
            raise ApiError(404, 'resource_group_not_found', "resource group '%s' does not exist" % name)
        return self.groups[name]

    def _volume(self, name):
        if name not in self.volumes:
            raise ApiError(404, 'volume_not_found', "volume '%s' does not exist" % name)
        return self.volumes[name]

    @staticmethod
    def _size(body, default=None):
        if 'size_bytes' in body:
            return body['size_bytes']
        if 'size_gib' in body:
            return body['size_gib'] * GI
        return default

    def _replicas(self, count):
        return [dict(node='node%d' % (i + 1), pool='default', diskful=True, primary=i == 0,
                     state='up_to_date', sync_progress=0, reason='') for i in range(count)]

    def _create_volume(self, body):
        for key in body:
            if key not in ('name', 'size_bytes', 'size_gib', 'resource_group', 'source'):
                raise ApiError(400, 'unknown_field', "unknown field '%s'" % key)
        if not NAME.match(body.get('name', '')):
            raise ApiError(400, 'invalid_field', "'name' is not a valid name")
        size = self._size(body)
        group = self._group(body.get('resource_group'))
        existing = self.volumes.get(body['name'])
        if existing:
            if existing['size_bytes'] != size or existing['resource_group'] != group['name']:
                raise ApiError(409, 'volume_exists', "volume '%s' exists with another size or group" % body['name'])
            return 200, self._view(existing)
        data = bytearray()
        source = body.get('source')
        if source:
            src = self._volume(source.get('volume'))
            if 'snapshot' in source:
                snap = src['snapshots'].get(source['snapshot'])
                if snap is None:
                    raise ApiError(404, 'snapshot_not_found', 'snapshot %s does not exist' % source['snapshot'])
                data, src_size = bytearray(snap['data']), snap['size_bytes']
            elif not self.native_clone:
                raise ApiError(422, 'not_implemented', 'a clone needs a snapshot of its source (not yet)')
            else:
                data, src_size = bytearray(src['data']), src['size_bytes']
            if size < src_size:
                raise ApiError(422, 'volume_too_small', 'smaller than its source')
        if size > 100 * GI:
            raise ApiError(422, 'volume_too_large', 'larger than every pool of group ' + group['name'])
        vol = dict(name=body['name'], uuid=str(uuid.uuid4()), size_bytes=size, resource_group=group['name'],
                   replicas=self._replicas(group['replicas']), snapshots={}, attachments={}, attach_polls={},
                   data=data,
                   polls=self.creating_polls, source=source)
        self.volumes[vol['name']] = vol
        return 201, self._view(vol)

    def _view(self, vol, poll=False):
        state = 'available'
        if vol['polls'] > 0:
            state = 'creating'
            if poll:
                vol['polls'] -= 1
        if vol['attachments'] and state == 'available':
            state = 'attached'
        return dict(name=vol['name'], uuid=vol['uuid'], size_bytes=vol['size_bytes'],
                    resource_group=vol['resource_group'], state=vol.get('force_state', state), reason='',
                    primary_node='node1', epoch=1, nbd_uri='nbd://127.0.0.1:10809/' + vol['name'],
                    created_at='2026-01-01T00:00:00Z', replicas=vol['replicas'])

    def _patch(self, vol, body):
        for key in body:
            if key not in ('size_bytes', 'size_gib', 'replicas', 'resource_group'):
                raise ApiError(400, 'unknown_field', "unknown field '%s'" % key)
        size = self._size(body, vol['size_bytes'])
        if size < vol['size_bytes']:
            raise ApiError(422, 'shrink_not_supported', 'volumes only grow')
        if size > 100 * GI:
            raise ApiError(422, 'no_space', 'no pool of group %s has room' % vol['resource_group'])
        if 'resource_group' in body:
            vol['resource_group'] = self._group(body['resource_group'])['name']
        vol['size_bytes'] = size
        if 'replicas' in body:
            vol['replicas'] = self._replicas(body['replicas'])
        return self._view(vol)

    def _create_snapshot(self, vol, body):
        name = body.get('name', '')
        if not NAME.match(name):
            raise ApiError(400, 'invalid_field', "'name' is not a valid name")
        if name in vol['snapshots']:
            return 200, self._snap_view(vol, vol['snapshots'][name])
        snap = dict(name=name, uuid=str(uuid.uuid4()), size_bytes=vol['size_bytes'], data=bytes(vol['data']),
                    polls=self.creating_polls)
        vol['snapshots'][name] = snap
        return 201, self._snap_view(vol, snap)

    def _snap_view(self, vol, snap, poll=False):
        state = 'available'
        if snap['polls'] > 0:
            state = 'creating'
            if poll:
                snap['polls'] -= 1
        return dict(name=snap['name'], uuid=snap['uuid'], volume=vol['name'], size_bytes=snap['size_bytes'],
                    state=state, created_at='2026-01-01T00:00:00Z',
                    copies=[r['node'] for r in vol['replicas']])

    def _attach(self, vol, body):
        host, mode = body.get('host'), body.get('mode')
        if mode not in ('nbd', 'block'):
            raise ApiError(400, 'invalid_field', "'mode' must be nbd or block")
        if host not in self.nodes:
            raise ApiError(422, 'node_not_found', "host '%s' runs no tandem-node" % host)
        if host in vol['attachments']:
            return 200, vol['attachments'][host]
        others = [h for h in vol['attachments'] if h != host]
        group = self.groups.get(vol['resource_group'], {})
        if others and not group.get('allow_multiattach'):
            raise ApiError(409, 'volume_attached', 'volume %s is attached on %s' % (vol['name'], others[0]))
        vol['attach_polls'][host] = self.attaching_polls
        att = dict(host=host, mode=mode, state='attaching' if self.attaching_polls else 'attached',
                   reason='', connector=body.get('connector'),
                   connection_info=dict(driver_volume_type='local',
                                        data=dict(device_path='/dev/tandem/' + vol['name'])))
        vol['attachments'][host] = att
        return 201, att

    def _adopt(self, name, body):
        key = (body.get('node'), body.get('pool'), body.get('backing_name'))
        if key not in self.backings:
            raise ApiError(404, 'backing_not_found',
                           'no backing volume %s in pool %s of node %s' % (key[2], key[1], key[0]))
        group = self._group(body.get('resource_group'))
        size = self.backings[key]
        replicas = [dict(node=key[0], pool=key[1], diskful=True, primary=True, state='up_to_date',
                         sync_progress=0, reason='')]
        vol = dict(name=name, uuid=str(uuid.uuid4()), size_bytes=size, resource_group=group['name'],
                   replicas=replicas, snapshots={}, attachments={}, attach_polls={}, data=bytearray(),
                   polls=0, source=None)
        if body.get('dry_run'):
            return 200, self._view(vol)
        if name in self.volumes:
            raise ApiError(409, 'volume_exists', "volume '%s' exists" % name)
        del self.backings[key]
        self.volumes[name] = vol
        return 201, self._view(vol)


class Stream(object):
    """A byte stream answer: ``data`` then zeros up to ``size`` bytes."""

    def __init__(self, data, size):
        self.data, self.size = data, size


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # e.g. a client that does not trust our CA ends the handshake


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    fake = None

    def log_message(self, *args):
        pass

    def _read_body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        fake = self.fake
        try:
            with fake.lock:
                if fake.raw_answer:
                    status, raw = fake.raw_answer
                    fake.raw_answer = None
                    self.send_response(status)
                    self.send_header('Content-Length', str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                    return
                status, result = fake.handle(self.command, url.path, query, self.headers, self._read_body)
                if isinstance(result, Stream):
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/octet-stream')
                    self.send_header('Content-Length', str(result.size))
                    self.end_headers()
                    limit = result.size if fake.stream_limit is None else fake.stream_limit
                    self.wfile.write(result.data[:limit])
                    zeros = bytes(1024 * 1024)
                    left = limit - len(result.data)
                    while left > 0:
                        n = min(left, len(zeros))
                        self.wfile.write(zeros[:n])
                        left -= n
                    self.close_connection = True
                    return
        except ApiError as e:
            status, result = e.status, {'error': {'code': e.code, 'message': e.message, 'details': {}}}
        self.send_response(status)
        if status == 204:
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        raw = json.dumps(result).encode()
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(raw)))
        if status == 401:
            self.send_header('WWW-Authenticate', 'Bearer')
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch
