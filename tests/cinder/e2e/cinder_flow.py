"""The real-Cinder flow against a running Tandem cluster, driven through the `cinder` CLI (API
3.70): used by test_cinder_real.py (3-node cluster) and by tests/devstack (the cinder.conf the
devstack plugin wrote, one node).

Steps: volume types with extra specs, create, attach on this host (os-brick's connector; the
device is a real block device written and read with dd), online extend while attached,
detach, snapshot, re-attach (the device has the new size), volume from the snapshot, clone,
revert, retype, manage/unmanage, image copy with Glance, delete everything; then through the
Tandem API: nothing is left behind and the replicas of every volume were identical.

Steps that need server features not on main yet are probed first and skipped, loudly, when
the route answers 404 route_not_found or 422 not_implemented: retype (PATCH replicas /
resource_group), manage/unmanage (adopt/forget), image copy (GET/PUT /v1/volumes/{v}/data).
"""

import filecmp
import os
import stat
import subprocess
import sys
import uuid

from openstack_services import wait_for

MiB = 1 << 20
GiB = 1 << 30
CHUNK = 4 * MiB  # bytes written/read per check
# Seconds a volume may take to have every replica up to date (a full sync of 1 GiB per replica on
# a loaded machine with sanitizer builds).
SYNC_TIMEOUT = 900


def say(text):
    print('[cinder e2e] ' + text, file=sys.stderr, flush=True)


def skip_loudly(step, feature):
    bar = '!' * 78
    say('%s\n!!! SKIPPED: %s\n!!! the Tandem controller does not have %s yet\n%s' % (bar, step, feature, bar))


class ApiAnswer(object):
    """(status, error code) of one Tandem API call, without raising."""

    def __init__(self, api, method, path, body=None):
        self.status, self.code = 0, None
        try:
            self.status, self.body = api.call(method, path, body)
        except Exception as e:  # noqa: BLE001 - ApiError carries status and code
            self.status, self.code = getattr(e, 'status', 0), getattr(e, 'code', None)
            self.body = getattr(e, 'body', str(e))

    def missing(self):
        return (self.status, self.code) in ((404, 'route_not_found'), (405, 'method_not_allowed'),
                                            (422, 'not_implemented'))


class CinderFlow(object):
    """One run of the flow. `test`: the unittest.TestCase asserting; `cinder`: a running
    openstack_services.Cinder; `tandem`: a localcluster.Api with the admin token; `node`: the
    Tandem node on this host, which is Cinder's host and the connector's host; `replicas`: the
    replica count of `group` (the default group); `backing_file(node, uuid)`: the file holding
    a node's replica (file pools); `glance`: a running Glance or None, with `glance_reason`."""

    def __init__(self, test, cinder, tandem, node, replicas, backing_file, group='cinder',
                 glance=None, glance_reason=None):
        self.t, self.cinder, self.tandem, self.node = test, cinder, tandem, node
        self.replicas, self.backing_file, self.group = replicas, backing_file, group
        self.glance, self.glance_reason = glance, glance_reason
        self.backend = cinder.backend_name
        self.tag = uuid.uuid4().hex[:8]
        self.volumes = []  # Cinder volume ids made by the flow
        self.skipped = []
        self.ran = []

    # -- helpers
    def cli(self, *args):
        return self.cinder.cli(*args)

    def create_from_cli(self, *args):
        """`cinder create ...`; returns the new volume's id (from its Property table)."""
        vid = self.cinder.table(self.cli('create', *args))['id']
        self.volumes.append(vid)
        return vid

    def tandem_volume(self, vid):
        return self.tandem.get('/v1/volumes/cinder-' + vid)

    def tandem_names(self):
        return [v['name'] for v in self.tandem.get('/v1/volumes')['volumes']]

    def settled(self, vid):
        """The volume's Tandem view once every replica is up to date (state available)."""
        def done():
            v = self.tandem_volume(vid)
            return v if v['state'] == 'available' else None
        return wait_for('Tandem volume cinder-%s available' % vid, done, SYNC_TIMEOUT, 0.5)

    def replica_files(self, view):
        return [self.backing_file(r['node'], view['uuid']) for r in view['replicas'] if r.get('diskful', True)]

    def assert_replicas_identical(self, vid, count=None):
        view = self.settled(vid)
        files = self.replica_files(view)
        self.t.assertEqual(count or self.replicas, len(files), view)
        for f in files[1:]:
            self.t.assertTrue(filecmp.cmp(files[0], f, shallow=False), '%s and %s differ' % (files[0], f))
        return view

    def head(self, vid, length=CHUNK):
        """The first `length` bytes of the volume, read from its primary's replica file."""
        view = self.settled(vid)
        primary = next(r for r in view['replicas'] if r['primary'])
        with open(self.backing_file(primary['node'], view['uuid']), 'rb') as f:
            return f.read(length).ljust(length, b'\0')

    def connector(self):
        """This host's connector, as Nova's compute would build it (os-brick), named for the
        Tandem node here (Nova's and Cinder's `host`)."""
        from os_brick.initiator import connector
        return connector.get_connector_properties(None, '127.0.0.1', False, False, host=self.node)

    def attach(self, vid):
        """`cinder attachment-create --connect` with this host's connector, then
        attachment-complete; returns (attachment id, device path)."""
        c = self.connector()
        out = self.cli('attachment-create', '--connect', 'True', '--host', c['host'], '--ip', c['ip'],
                       '--initiator', c.get('initiator') or '', '--platform', c['platform'],
                       '--ostype', c['os_type'], '--multipath', str(c['multipath']), vid)
        rows = self.cinder.table(out)
        aid = rows['id']
        info = self.cinder.rest('GET', '/attachments/' + aid)['attachment']['connection_info']
        self.t.assertEqual('local', info['driver_volume_type'], info)
        device = info['device_path']
        self.t.assertEqual(aid, info['attachment_id'])
        # The driver returns the path only when the device is there: no wait here.
        real = os.path.realpath(device)
        self.t.assertTrue(os.path.exists(real) and stat.S_ISBLK(os.stat(real).st_mode),
                          '%s -> %s is not a block device' % (device, real))
        self.cli('attachment-complete', aid)
        vol = self.cinder.wait_status('volume', vid, 'in-use')
        self.t.assertEqual([(aid, self.node)], [(x['attachment_id'], x['host_name']) for x in vol['attachments']])
        self.t.assertEqual([self.node], self.tandem_volume(vid)['attached_hosts'])
        return aid, device

    def detach(self, vid, aid, device):
        self.cli('attachment-delete', aid)
        self.cinder.wait_status('volume', vid, 'available')
        self.t.assertEqual([], self.tandem.get('/v1/volumes/cinder-%s/attachments' % vid)['attachments'])
        self.t.assertFalse(os.path.lexists(device), device + ' is still there')

    def dd_write(self, device, data, offset=0):
        src = os.path.join(self.cinder.root, 'dd-in')
        with open(src, 'wb') as f:
            f.write(data)
        subprocess.run(['dd', 'if=' + src, 'of=' + device, 'bs=1M', 'oflag=direct,seek_bytes',
                        'seek=%d' % offset, 'conv=fsync,notrunc', 'status=none'], check=True)

    def dd_read(self, device, length, offset=0):
        p = subprocess.run(['dd', 'if=' + device, 'bs=1M', 'iflag=direct,skip_bytes,count_bytes',
                            'skip=%d' % offset, 'count=%d' % length, 'status=none'],
                           check=True, capture_output=True)
        return p.stdout

    @staticmethod
    def device_size(device):
        p = subprocess.run(['blockdev', '--getsize64', device], check=True, capture_output=True, text=True)
        return int(p.stdout)

    # -- probes for server features being built on other branches
    def probe(self):
        """What the controller does not have yet: {feature: description} of the missing ones."""
        missing = {}
        ghost = 'cinder-probe-%s' % self.tag
        data = ApiAnswer(self.tandem, 'GET', '/v1/volumes/%s/data' % ghost)
        if data.missing():
            missing['data'] = 'data streaming (GET/PUT /v1/volumes/{v}/data: %s %s)' % (data.status, data.code)
        adopt = ApiAnswer(self.tandem, 'POST', '/v1/volumes/%s/adopt' % ghost,
                          {'node': 'no-such-node', 'pool': 'default', 'backing_name': 'none',
                           'resource_group': self.group, 'dry_run': True})
        forget = ApiAnswer(self.tandem, 'POST', '/v1/volumes/%s/forget' % ghost, {})
        if adopt.missing() or forget.missing():
            missing['adopt'] = 'adopt/forget (POST /v1/volumes/{v}/adopt: %s %s, .../forget: %s %s)' % (
                adopt.status, adopt.code, forget.status, forget.code)
        # PATCH of replicas / resource_group: on a scratch volume in a 1-replica group.
        self.tandem.post('/v1/resource-groups', {'name': 'probe-%s' % self.tag, 'replicas': 1})
        self.tandem.post('/v1/volumes', {'name': ghost, 'size_bytes': MiB, 'resource_group': 'probe-%s' % self.tag})
        try:
            wait_for('probe volume', lambda: self.tandem.get('/v1/volumes/' + ghost)['state'] == 'available', 60)
            patches = [ApiAnswer(self.tandem, 'PATCH', '/v1/volumes/' + ghost, body)
                       for body in ({'resource_group': self.group}, {'replicas': 2})]
            if any(p.missing() for p in patches):
                missing['patch'] = 'replica count / resource group change (PATCH /v1/volumes/{v}: %s)' % (
                    ', '.join('%s %s' % (p.status, p.code) for p in patches))
        finally:
            self.tandem.call('DELETE', '/v1/volumes/' + ghost)
            wait_for('probe volume gone', lambda: ghost not in self.tandem_names(), 60)
            self.tandem.call('DELETE', '/v1/resource-groups/probe-%s' % self.tag)
        return missing

    # -- the flow
    def run(self):
        self.t.assertEqual([], [n for n in self.tandem_names() if n.startswith('cinder-')], 'a clean start')
        missing = self.probe()
        for feature in missing.values():
            say('the controller lacks: ' + feature)
        gold, silver = 'tandem-gold-' + self.tag, 'tandem-silver-' + self.tag
        group_b = 'cinder-b-' + self.tag

        # Volume types with Tandem's extra specs (and pool_name, which the scheduler matches).
        self.cli('type-create', gold)
        self.cli('type-key', gold, 'set', 'volume_backend_name=' + self.backend,
                 'tandem:resource_group=' + self.group, 'pool_name=' + self.group,
                 'tandem:replicas=%d' % self.replicas)
        self.tandem.post('/v1/resource-groups', {'name': group_b, 'replicas': self.replicas})
        self.cli('type-create', silver)
        self.cli('type-key', silver, 'set', 'volume_backend_name=' + self.backend,
                 'tandem:resource_group=' + group_b, 'pool_name=' + group_b,
                 'tandem:replicas=%d' % max(1, self.replicas - 1))
        wait_for('the scheduler to see pool %s' % group_b, lambda: any(
            p['name'].endswith('#' + group_b) for p in self.cinder.backend_pools() or []), 60)
        types = {t['name']: t for t in self.cinder.rest('GET', '/types')['volume_types']}
        self.t.assertEqual({'volume_backend_name': self.backend, 'tandem:resource_group': self.group,
                            'pool_name': self.group, 'tandem:replicas': str(self.replicas)},
                           types[gold]['extra_specs'])

        # Create.
        a = self.create_from_cli('--volume-type', gold, '--name', 'a-' + self.tag, 1)
        self.cinder.wait_status('volume', a, 'available')
        view = self.tandem_volume(a)
        self.t.assertEqual((self.group, GiB), (view['resource_group'], view['size_bytes']))
        self.t.assertEqual('%s@%s#%s' % (self.node, self.backend, self.group),
                           self.cinder.volume(a)['os-vol-host-attr:host'])
        self.ran.append('create')

        # Attach on this host; dd through the device; detach.
        aid, dev = self.attach(a)
        first = os.urandom(CHUNK)
        self.dd_write(dev, first)
        self.t.assertEqual(first, self.dd_read(dev, CHUNK))
        self.t.assertEqual(GiB, self.device_size(dev))
        self.detach(a, aid, dev)
        self.t.assertEqual(first, self.head(a))
        self.ran += ['attach', 'dd', 'detach']

        # Snapshot; new data written after it.
        s1 = self.cinder.table(self.cli('snapshot-create', '--name', 's1-' + self.tag, a))['id']
        self.cinder.wait_status('snapshot', s1, 'available')
        snaps = self.tandem.get('/v1/volumes/cinder-%s/snapshots' % a)['snapshots']
        self.t.assertEqual(['cinder-snap-' + s1], [s['name'] for s in snaps])
        aid, dev = self.attach(a)
        second = os.urandom(CHUNK)
        self.dd_write(dev, second)
        self.detach(a, aid, dev)
        self.ran.append('snapshot')

        # Volume from the snapshot, and a clone of the volume as it is now (the other replicas of
        # each are fully synced from its primary: 1 GiB volumes keep that short).
        b = self.create_from_cli('--snapshot-id', s1, '--volume-type', gold, '--name', 'b-' + self.tag, 1)
        c = self.create_from_cli('--source-volid', a, '--volume-type', gold, '--name', 'c-' + self.tag, 1)
        self.cinder.wait_status('volume', b, 'available', timeout=SYNC_TIMEOUT)
        self.cinder.wait_status('volume', c, 'available', timeout=SYNC_TIMEOUT)
        self.t.assertEqual(first, self.head(b), 'the volume from the snapshot has the snapshot\'s data')
        self.t.assertEqual(self.group, self.tandem_volume(b)['resource_group'])
        self.t.assertEqual(second, self.head(c), 'the clone has the source\'s current data')
        self.t.assertEqual([], [s for s in self.tandem.get('/v1/volumes/cinder-%s/snapshots' % a)['snapshots']
                                if s['name'] != 'cinder-snap-' + s1], 'no temporary snapshot stays')
        self.ran += ['volume from snapshot', 'clone']

        # Revert to the snapshot (the latest one); the other replicas resync from the primary.
        self.cli('revert-to-snapshot', s1)
        self.cinder.wait_status('volume', a, 'available', timeout=SYNC_TIMEOUT)
        self.cinder.wait_status('snapshot', s1, 'available')
        self.t.assertEqual(first, self.head(a), 'reverted to the snapshot\'s data')
        self.assert_replicas_identical(a)
        self.ran.append('revert')

        # Online extend while attached: the data stays; a new attachment has the new size.
        aid, dev = self.attach(a)
        self.cli('extend', a, 2)
        self.cinder.wait_status('volume', a, 'in-use', size=2)
        wait_for('Tandem volume grown', lambda: self.tandem_volume(a)['size_bytes'] == 2 * GiB, 60)
        self.t.assertEqual(first, self.dd_read(dev, CHUNK), 'data intact after the online extend')
        self.detach(a, aid, dev)
        aid, dev = self.attach(a)
        self.t.assertEqual(2 * GiB, self.device_size(dev), 'a new attachment has the extended size')
        tail_data = os.urandom(MiB)
        self.dd_write(dev, tail_data, offset=2 * GiB - MiB)
        self.t.assertEqual(tail_data, self.dd_read(dev, MiB, offset=2 * GiB - MiB))
        self.t.assertEqual(first, self.dd_read(dev, CHUNK))
        self.detach(a, aid, dev)
        self.ran += ['online extend', 'write past the old size']

        self.retype(c, silver, group_b, missing)
        self.manage(b, gold, missing)  # b has no snapshot (forget refuses a volume with snapshots)
        self.image_copy(gold, missing)

        # Every volume's replicas are identical; then delete everything.
        for vid in self.volumes:
            if self.cinder_exists(vid):
                view = self.tandem_volume(vid)
                self.assert_replicas_identical(vid, len([r for r in view['replicas'] if r.get('diskful', True)]))
        self.cli('snapshot-delete', s1)
        self.cinder.wait_gone('snapshot', s1)
        self.t.assertEqual([], self.tandem.get('/v1/volumes/cinder-%s/snapshots' % a)['snapshots'])
        existing = [v for v in self.volumes if self.cinder_exists(v)]
        self.cli('delete', *existing)
        for vid in existing:
            self.cinder.wait_gone('volume', vid)
        self.cli('type-delete', gold)
        self.cli('type-delete', silver)
        self.ran.append('delete')

        # Nothing left behind in Tandem: no volume, snapshot or attachment of Cinder's.
        self.t.assertEqual([], [n for n in self.tandem_names() if n.startswith('cinder-')])
        self.tandem.call('DELETE', '/v1/resource-groups/' + group_b)
        say('ran for real: %s' % ', '.join(self.ran))
        if self.skipped:
            say('SKIPPED (server features missing): %s' % '; '.join(self.skipped))
        return self

    def cinder_exists(self, vid):
        return any(v['id'] == vid for v in self.cinder.rest('GET', '/volumes')['volumes'])

    # -- guarded steps
    def retype(self, vid, new_type, new_group, missing):
        if 'patch' in missing:
            self.skipped.append('retype')
            return skip_loudly('retype (cinder retype --migration-policy on-demand)', missing['patch'])
        # The new type names another pool (resource group): Cinder's scheduler refuses any pool
        # change under --migration-policy never ("Current backend not valid"), so the retype asks
        # for on-demand. The scheduler then picks the new pool on this backend, and the volume
        # manager calls the driver's retype (same backend), which changes the group and the
        # replica count in place (PATCH): Cinder's generic migration (a full copy) never runs.
        self.cli('retype', '--migration-policy', 'on-demand', vid, new_type)
        self.cinder.wait_status('volume', vid, 'available', timeout=SYNC_TIMEOUT, volume_type=new_type)
        self.t.assertEqual('%s@%s#%s' % (self.node, self.backend, new_group),
                           self.cinder.volume(vid)['os-vol-host-attr:host'])
        want = max(1, self.replicas - 1)

        def moved():
            v = self.tandem_volume(vid)
            diskful = [r for r in v['replicas'] if r.get('diskful', True)]
            return v['resource_group'] == new_group and len(diskful) == want and v['state'] == 'available'
        wait_for('Tandem volume in %s with %d replicas' % (new_group, want), moved, 180, 0.5)
        self.assert_replicas_identical(vid, want)
        # Retyped in place: still the same Tandem volume (a migration would have made a new one,
        # named after a new Cinder id, and copied the data).
        self.t.assertIn('cinder-' + vid, self.tandem_names())
        self.ran.append('retype')

    def manage(self, vid, vol_type, missing):
        """unmanage (forget: the primary's copy stays, renamed to the volume's name; the other
        replicas go), then manage that backing volume back (adopt, then more replicas)."""
        if 'adopt' in missing:
            self.skipped.append('manage/unmanage')
            return skip_loudly('manage/unmanage (cinder unmanage, cinder manage)', missing['adopt'])
        view = self.settled(vid)
        data = self.head(vid)
        primary = next(r for r in view['replicas'] if r['primary'])
        self.cli('unmanage', vid)
        self.cinder.wait_gone('volume', vid)
        self.volumes.remove(vid)
        self.t.assertNotIn('cinder-' + vid, self.tandem_names())
        backing = 'cinder-' + vid  # forget names the released copy after the volume
        probe = {'node': primary['node'], 'pool': primary['pool'], 'backing_name': backing,
                 'resource_group': self.group, 'dry_run': True}
        # The node releases the copy when it next reads its desired state, and lists it in the
        # heartbeat after that: until then an adopt is 404 backing_not_found.
        wait_for('the released copy %s on %s' % (backing, primary['node']), lambda: ApiAnswer(
            self.tandem, 'POST', '/v1/volumes/cinder-probe-%s/adopt' % self.tag, probe).status == 200, 120, 0.5)
        ref = '%s/%s/%s' % (primary['node'], primary['pool'], backing)
        host = '%s@%s#%s' % (self.node, self.backend, self.group)
        rows = self.cinder.table(self.cli('manage', '--id-type', 'source-name', '--volume-type', vol_type,
                                          '--name', 'm-' + self.tag, host, ref))
        managed = rows['id']
        self.volumes.append(managed)
        self.cinder.wait_status('volume', managed, 'available', timeout=SYNC_TIMEOUT)
        self.t.assertEqual(data, self.head(managed), 'the managed volume holds the unmanaged data')
        self.assert_replicas_identical(managed)
        self.ran += ['unmanage', 'manage']

    def image_copy(self, vol_type, missing):
        if self.glance is None:
            self.skipped.append('image copy')
            say('!!! SKIPPED: image copy: glance-api does not run here: %s' % self.glance_reason)
            return
        image = os.urandom(3 * MiB)
        image_id = self.glance.upload('tandem-e2e-' + self.tag, image)
        self.t.assertEqual(image, self.glance.download(image_id), 'Glance serves the image')
        if 'data' in missing:
            self.glance.delete(image_id)
            self.skipped.append('image copy')
            return skip_loudly('image copy (cinder create --image-id, cinder upload-to-image); glance-api runs',
                               missing['data'])
        vid = self.create_from_cli('--volume-type', vol_type, '--image-id', image_id, '--name', 'i-' + self.tag, 1)
        self.cinder.wait_status('volume', vid, 'available')
        self.t.assertEqual(image, self.head(vid, len(image)))
        self.assert_replicas_identical(vid)
        rows = self.cinder.table(self.cli('upload-to-image', '--disk-format', 'raw', vid, 'up-' + self.tag))
        uploaded = rows['image_id']
        self.cinder.wait_status('volume', vid, 'available')
        wait_for('image %s active' % uploaded, lambda: self.glance.image(uploaded)['status'] == 'active', 180, 0.5)
        back = self.glance.download(uploaded)
        self.t.assertEqual(GiB, len(back))
        self.t.assertEqual(image, back[:len(image)])
        self.t.assertEqual(b'\0' * (GiB - len(image)), back[len(image):])
        self.glance.delete(uploaded)
        self.glance.delete(image_id)
        self.ran += ['image to volume', 'volume to image']
