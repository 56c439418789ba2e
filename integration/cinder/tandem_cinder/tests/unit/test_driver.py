"""Unit tests of TandemDriver against a fake Tandem controller served over real HTTPS."""

import io
import os
import shutil
import socket
import tempfile
from unittest import mock

from os_brick.initiator import connector
from oslo_utils import units

from cinder import context
from cinder import exception
from cinder.interface import volume_driver as vd_interface
from cinder.interface import volume_manageable_driver as manage_interface
from cinder.interface import volume_snapshot_revert as revert_interface
from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.tests.unit.image import fake as fake_image
from cinder.tests.unit import test
from cinder.volume import configuration as conf
from cinder.volume import driver as cinder_driver

from tandem_cinder import driver as drv
from tandem_cinder.tests.unit import fake_controller

BACKEND = 'tandem-test'
HOST = 'cinderhost@%s' % BACKEND
GI = units.Gi
IMAGE_ID = 'c0ffee00-7a9d-4e57-9d2b-5f1e0ad1b001'  # not one of the fake service's images


def closed_port_url():
    """An https URL on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return 'https://127.0.0.1:%d' % port


class TandemDriverTestCase(test.TestCase):

    def setUp(self):
        super(TandemDriverTestCase, self).setUp()
        self.ctxt = context.get_admin_context()
        self.tmp = tempfile.mkdtemp(prefix='tandem-cinder-test-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.fake = fake_controller.FakeController(self.tmp).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_group('cinder', replicas=2, overprovision=4.0)
        self.fake.add_group('gold', replicas=3, pools=['fast'],
                            allow_multiattach=True)
        self.fake.add_group('thick', replicas=1, thin=False)
        for node in ('node1', 'node2', 'node3'):
            self.fake.add_pool(node, 'default', total=100 * GI, free=60 * GI,
                               provisioned=30 * GI)
        self.fake.add_pool('node1', 'fast', total=10 * GI, free=10 * GI)
        self.fake.add_pool('node2', 'fast', total=10 * GI, free=10 * GI)
        self.fake.add_pool('node3', 'fast', total=10 * GI, free=10 * GI,
                           state='offline')
        self.token_file = os.path.join(self.tmp, 'service.token')
        with open(self.token_file, 'w') as f:
            f.write(self.fake.token + '\n')
        self.configuration = conf.Configuration(cinder_driver.volume_opts,
                                                config_group=BACKEND)
        self.configuration.append_config_values(drv.tandem_opts)
        self.set_conf(tandem_controller_urls=[self.fake.url],
                      tandem_token_file=self.token_file,
                      tandem_ca_file=self.fake.ca,
                      volume_backend_name=BACKEND,
                      image_conversion_dir=os.path.join(self.tmp, 'conv'))
        self.driver = self.make_driver()

    def set_conf(self, **values):
        for name, value in values.items():
            if name == 'image_conversion_dir':
                self.override_config(name, value)
            else:
                self.override_config(name, value, group=BACKEND)

    def make_driver(self, setup=True):
        d = drv.TandemDriver(configuration=self.configuration)
        d.poll_interval = 0.01
        if setup:
            d.do_setup(self.ctxt)
        return d

    def volume(self, vid=fake.VOLUME_ID, size=1, pool='cinder', specs=None,
               **kwargs):
        host = HOST + ('#' + pool if pool else '')
        vol = fake_volume.fake_volume_obj(
            self.ctxt, id=vid, size=size, host=host,
            volume_type_id=fake.VOLUME_TYPE_ID,
            expected_attrs=['metadata', 'admin_metadata', 'volume_attachment',
                            'glance_metadata'], **kwargs)
        vol.volume_type = fake_volume.fake_volume_type_obj(
            self.ctxt, id=fake.VOLUME_TYPE_ID, extra_specs=specs or {})
        return vol

    def snapshot(self, vol, sid=fake.SNAPSHOT_ID):
        snap = fake_snapshot.fake_snapshot_obj(self.ctxt, id=sid,
                                               volume_id=vol.id,
                                               volume_size=vol.size)
        snap.volume = vol
        return snap

    def tandem(self, vol):
        return self.fake.volumes['cinder-' + vol.name_id]

    def assertBackendError(self, fragments, func, *args):
        err = self.assertRaises(exception.VolumeBackendAPIException,
                                func, *args)
        for fragment in fragments:
            self.assertIn(fragment, str(err))
        return err

    # -- interface and options ---------------------------------------------

    def test_implements_cinder_interfaces(self):
        for interface in (vd_interface.VolumeDriverCore,
                          manage_interface.VolumeManagementDriver,
                          revert_interface.VolumeSnapshotRevertDriver):
            self.assertTrue(issubclass(drv.TandemDriver, interface),
                            interface.__name__)
        self.assertRegex(drv.TandemDriver.VERSION, r'^\d+\.\d+\.\d+$')
        self.assertIsInstance(drv.TandemDriver.CI_WIKI_NAME, str)

    def test_driver_options(self):
        names = {o.name for o in drv.TandemDriver.get_driver_options()}
        self.assertEqual({'tandem_controller_urls', 'tandem_token_file',
                          'tandem_ca_file', 'tandem_default_resource_group',
                          'tandem_resource_groups', 'tandem_connect_timeout',
                          'tandem_request_timeout', 'tandem_ready_timeout'},
                         names)

    # -- setup -------------------------------------------------------------

    def test_do_setup_needs_urls(self):
        self.set_conf(tandem_controller_urls=[])
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.make_driver)

    def test_do_setup_needs_token_file(self):
        self.set_conf(tandem_token_file=None)
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.make_driver)

    def test_do_setup_missing_ca_file(self):
        self.set_conf(tandem_ca_file=os.path.join(self.tmp, 'nope.pem'))
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.make_driver)

    def test_do_setup_rejects_plain_http(self):
        self.set_conf(tandem_controller_urls=['http://127.0.0.1:1'])
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.make_driver)

    def test_check_for_setup_error(self):
        self.driver.check_for_setup_error()
        self.assertEqual(['/v1/version', '/v1/resource-groups/cinder'],
                         [r[1] for r in self.fake.requests])

    def test_check_for_setup_error_unreachable(self):
        url = closed_port_url()
        self.set_conf(tandem_controller_urls=[url])
        self.assertBackendError(['Cannot reach the Tandem controller', url],
                                self.make_driver().check_for_setup_error)

    def test_check_for_setup_error_untrusted_certificate(self):
        other = fake_controller.FakeController(self.tmp, tag='other').start()
        self.addCleanup(other.stop)
        self.set_conf(tandem_controller_urls=[other.url])
        self.assertBackendError(['Cannot reach', 'CERTIFICATE_VERIFY_FAILED'],
                                self.make_driver().check_for_setup_error)

    def test_check_for_setup_error_bad_token(self):
        with open(self.token_file, 'w') as f:
            f.write('wrong-token')
        self.assertBackendError(['refused the token', self.token_file,
                                 'unauthenticated'],
                                self.driver.check_for_setup_error)

    def test_check_for_setup_error_token_file_unreadable(self):
        os.unlink(self.token_file)
        self.assertBackendError(['cannot read the token file'],
                                self.driver.check_for_setup_error)

    def test_check_for_setup_error_wrong_role(self):
        self.fake.forbidden_tokens.add(self.fake.token)
        self.assertBackendError(['may not read resource groups',
                                 'permission_denied'],
                                self.driver.check_for_setup_error)

    def test_check_for_setup_error_incompatible_api(self):
        self.fake.api_version = 'v2'
        self.assertBackendError(['Incompatible Tandem API version v2'],
                                self.driver.check_for_setup_error)

    def test_check_for_setup_error_default_group_missing(self):
        self.set_conf(tandem_default_resource_group='nogroup')
        self.assertBackendError(['nogroup does not exist',
                                 'resource_group_not_found'],
                                self.make_driver().check_for_setup_error)

    def test_check_for_setup_error_other_error(self):
        self.fake.fail('GET', '^/v1/resource-groups/', 500, 'store_io_error',
                       'disk I/O error')
        self.assertBackendError(['store_io_error', 'disk I/O error'],
                                self.driver.check_for_setup_error)

    # -- controller URLs and tokens ------------------------------------------

    def test_controller_urls_tried_in_turn(self):
        busy, bundle = fake_controller.busy_controller(self, self.tmp,
                                                       [self.fake])
        self.set_conf(tandem_controller_urls=[closed_port_url(), busy.url,
                                              self.fake.url],
                      tandem_ca_file=bundle)
        d = self.make_driver()
        vol = self.volume()
        d.create_volume(vol)
        self.assertIn('cinder-' + vol.id, self.fake.volumes)
        self.assertEqual(1, len(busy.requests))
        # The controller that answered is asked first from then on.
        d.delete_volume(vol)
        self.assertEqual(1, len(busy.requests))
        self.assertEqual({}, self.fake.volumes)

    def test_no_controller_answers(self):
        busy, bundle = fake_controller.busy_controller(self, self.tmp, [])
        refused = closed_port_url()
        self.set_conf(tandem_controller_urls=[refused, busy.url],
                      tandem_ca_file=bundle)
        self.assertBackendError([refused, busy.url, 'unavailable',
                                 'unreachable'],
                                self.make_driver().create_volume,
                                self.volume())

    def test_token_file_is_reread(self):
        self.driver.create_volume(self.volume(fake.VOLUME_ID))
        self.fake.token = 'rotated-token'
        with open(self.token_file, 'w') as f:
            f.write('rotated-token\n')
        self.driver.create_volume(self.volume(fake.VOLUME2_ID))
        self.assertEqual(2, len(self.fake.volumes))

    # -- create / delete / extend -------------------------------------------

    def test_create_volume(self):
        vol = self.volume(size=3)
        self.driver.create_volume(vol)
        post = self.fake.calls('POST', '/v1/volumes')
        self.assertEqual([{'name': 'cinder-' + fake.VOLUME_ID, 'size_gib': 3,
                           'resource_group': 'cinder'}],
                         [r[3] for r in post])
        tv = self.tandem(vol)
        self.assertEqual(3 * GI, tv['size_bytes'])
        self.assertEqual(2, len(tv['replicas']))
        self.assertEqual([], self.fake.calls('PATCH'))

    def test_create_volume_is_idempotent(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.create_volume(vol)
        self.assertEqual(1, len(self.fake.volumes))

    def test_create_volume_default_group_without_pool(self):
        self.set_conf(tandem_default_resource_group='thick')
        d = self.make_driver()
        vol = self.volume(pool=None)
        d.create_volume(vol)
        self.assertEqual('thick', self.tandem(vol)['resource_group'])

    def test_create_volume_extra_specs(self):
        vol = self.volume(pool='gold', specs={'tandem:resource_group': 'gold',
                                              'tandem:replicas': '2'})
        self.driver.create_volume(vol)
        tv = self.tandem(vol)
        self.assertEqual('gold', tv['resource_group'])
        self.assertEqual(2, len(tv['replicas']))
        self.assertEqual([{'replicas': 2}],
                         [r[3] for r in self.fake.calls('PATCH')])

    def test_create_volume_spec_group_without_pool(self):
        vol = self.volume(pool=None, specs={'tandem:resource_group': 'gold'})
        self.driver.create_volume(vol)
        self.assertEqual('gold', self.tandem(vol)['resource_group'])

    def test_create_volume_spec_conflicts_with_scheduled_pool(self):
        vol = self.volume(pool='cinder',
                          specs={'tandem:resource_group': 'gold'})
        err = self.assertRaises(exception.InvalidVolumeType,
                                self.driver.create_volume, vol)
        self.assertIn('pool_name=gold', str(err))
        self.assertEqual({}, self.fake.volumes)

    def test_create_volume_bad_replicas_spec(self):
        for value in ('0', '9', 'three'):
            vol = self.volume(specs={'tandem:replicas': value})
            err = self.assertRaises(exception.InvalidVolumeType,
                                    self.driver.create_volume, vol)
            self.assertIn('tandem:replicas', str(err))
        self.assertEqual([], self.fake.calls('POST'))

    def test_create_volume_waits_while_creating(self):
        self.fake.creating_polls = 3
        vol = self.volume()
        self.driver.create_volume(vol)
        # The create answered 'creating', then three GETs did, the fourth
        # answered 'available'.
        gets = self.fake.calls('GET', '/v1/volumes/cinder-' + vol.id)
        self.assertEqual(4, len(gets))
        self.assertEqual(0, self.tandem(vol)['polls'])

    def test_create_volume_ready_timeout(self):
        self.fake.creating_polls = 10 ** 9
        self.set_conf(tandem_ready_timeout=1)
        d = self.make_driver()
        self.assertBackendError(['still creating after 1 s'],
                                d.create_volume, self.volume())

    def test_create_volume_error_state(self):
        self.fake.creating_polls = 1
        vol = self.volume()
        real_view = self.fake._view

        def view(v, poll=False):
            out = real_view(v, poll)
            if poll:
                out['state'], out['reason'] = 'error', 'node1: disk failed'
            return out
        self.mock_object(self.fake, '_view', view)
        self.assertBackendError(['controller reports error',
                                 'node1: disk failed'],
                                self.driver.create_volume, vol)

    def test_create_volume_controller_error(self):
        self.fake.fail('POST', '^/v1/volumes$', 422, 'not_enough_nodes',
                       'group cinder needs 2 nodes, 1 online')
        self.assertBackendError(['create volume cinder-' + fake.VOLUME_ID,
                                 'not_enough_nodes',
                                 'group cinder needs 2 nodes, 1 online',
                                 'HTTP 422'],
                                self.driver.create_volume, self.volume())

    def test_create_volume_replica_patch_error(self):
        self.fake.fail('PATCH', '^/v1/volumes/', 422, 'not_enough_nodes',
                       'only 3 nodes')
        vol = self.volume(specs={'tandem:replicas': '3'})
        self.assertBackendError(['not_enough_nodes', 'only 3 nodes'],
                                self.driver.create_volume, vol)

    def test_migrated_volume_uses_name_id(self):
        vol = self.volume(_name_id=fake.VOLUME2_ID)
        self.driver.create_volume(vol)
        self.assertIn('cinder-' + fake.VOLUME2_ID, self.fake.volumes)
        self.driver.delete_volume(vol)
        self.assertEqual({}, self.fake.volumes)

    def test_delete_volume(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.delete_volume(vol)
        self.assertEqual({}, self.fake.volumes)

    def test_delete_volume_already_gone(self):
        self.driver.delete_volume(self.volume())
        self.assertEqual(1, len(self.fake.calls('DELETE')))

    def test_delete_volume_in_use(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.initialize_connection(vol, {'host': 'node2'})
        err = self.assertRaises(exception.VolumeIsBusy,
                                self.driver.delete_volume, vol)
        self.assertIn('volume_attached', str(err))
        self.assertEqual(1, len(self.fake.volumes))

    def test_delete_volume_error(self):
        self.fake.fail('DELETE', '^/v1/volumes/', 500, 'store_io_error',
                       'disk I/O error')
        self.assertBackendError(['delete volume', 'store_io_error',
                                 'disk I/O error', 'HTTP 500'],
                                self.driver.delete_volume, self.volume())

    def test_extend_volume(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.extend_volume(vol, 5)
        self.assertEqual(5 * GI, self.tandem(vol)['size_bytes'])
        self.assertEqual([{'size_gib': 5}],
                         [r[3] for r in self.fake.calls('PATCH')])

    def test_extend_volume_error(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.assertBackendError(['extend volume', 'no_space',
                                 'no pool of group cinder has room'],
                                self.driver.extend_volume, vol, 500)
        self.assertEqual(GI, self.tandem(vol)['size_bytes'])

    def test_extend_missing_volume(self):
        self.assertBackendError(['volume_not_found'],
                                self.driver.extend_volume, self.volume(), 2)

    # -- snapshots -----------------------------------------------------------

    def test_create_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.tandem(vol)['data'][:4] = b'old!'
        self.fake.creating_polls = 2
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        ts = self.tandem(vol)['snapshots']['cinder-snap-' + snap.id]
        self.assertEqual(b'old!', ts['data'])
        self.assertEqual(0, ts['polls'])

    def test_create_snapshot_of_missing_volume(self):
        snap = self.snapshot(self.volume())
        self.assertBackendError(['create snapshot cinder-snap-' + snap.id,
                                 'volume_not_found'],
                                self.driver.create_snapshot, snap)

    def test_delete_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.driver.delete_snapshot(snap)
        self.assertEqual({}, self.tandem(vol)['snapshots'])

    def test_delete_snapshot_already_gone(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.delete_snapshot(self.snapshot(vol))
        # ... and of a volume that is gone too.
        self.driver.delete_snapshot(self.snapshot(self.volume(
            fake.VOLUME2_ID)))
        self.assertEqual(2, len(self.fake.calls('DELETE')))

    def test_delete_snapshot_busy(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.fake.fail('DELETE', '/snapshots/', 409, 'snapshot_in_use',
                       'a clone still reads it')
        err = self.assertRaises(exception.SnapshotIsBusy,
                                self.driver.delete_snapshot, snap)
        self.assertIn('a clone still reads it', str(err))

    def test_delete_snapshot_error(self):
        self.fake.fail('DELETE', '/snapshots/', 500, 'internal', 'boom')
        self.assertBackendError(['delete snapshot', 'internal', 'boom'],
                                self.driver.delete_snapshot,
                                self.snapshot(self.volume()))

    def test_create_volume_from_snapshot(self):
        src = self.volume()
        self.driver.create_volume(src)
        self.tandem(src)['data'][:5] = b'snap!'
        snap = self.snapshot(src)
        self.driver.create_snapshot(snap)
        self.tandem(src)['data'][:5] = b'later'
        vol = self.volume(fake.VOLUME2_ID, size=2)
        self.driver.create_volume_from_snapshot(vol, snap)
        tv = self.tandem(vol)
        self.assertEqual(b'snap!', bytes(tv['data']))
        self.assertEqual(2 * GI, tv['size_bytes'])
        self.assertEqual({'volume': 'cinder-' + src.id,
                          'snapshot': 'cinder-snap-' + snap.id}, tv['source'])

    def test_create_volume_from_missing_snapshot(self):
        src = self.volume()
        self.driver.create_volume(src)
        vol = self.volume(fake.VOLUME2_ID)
        self.assertBackendError(['snapshot_not_found'],
                                self.driver.create_volume_from_snapshot,
                                vol, self.snapshot(src))
        self.assertNotIn('cinder-' + vol.id, self.fake.volumes)

    def test_create_cloned_volume(self):
        src = self.volume()
        self.driver.create_volume(src)
        self.tandem(src)['data'][:6] = b'source'
        self.fake.creating_polls = 1
        vol = self.volume(fake.VOLUME2_ID, specs={'tandem:replicas': '3'})
        self.driver.create_cloned_volume(vol, src)
        tv = self.tandem(vol)
        self.assertEqual(b'source', bytes(tv['data']))
        self.assertEqual({'volume': 'cinder-' + src.id}, tv['source'])
        self.assertEqual(3, len(tv['replicas']))

    def test_create_cloned_volume_through_a_snapshot(self):
        # The controller makes volumes from snapshots only (422
        # not_implemented for a plain source volume): the driver clones
        # through a temporary snapshot of the source, deleted afterwards.
        self.fake.native_clone = False
        src = self.volume()
        self.driver.create_volume(src)
        self.tandem(src)['data'][:6] = b'source'
        self.fake.creating_polls = 1
        vol = self.volume(fake.VOLUME2_ID, size=2)
        self.driver.create_cloned_volume(vol, src)
        tv = self.tandem(vol)
        self.assertEqual(b'source', bytes(tv['data']))
        self.assertEqual(2 * GI, tv['size_bytes'])
        self.assertEqual({'volume': 'cinder-' + src.id,
                          'snapshot': 'cinder-clone-' + vol.id}, tv['source'])
        self.assertEqual({}, self.tandem(src)['snapshots'])
        self.assertEqual(['/v1/volumes/cinder-%s/snapshots/cinder-clone-%s'
                          % (src.id, vol.id)],
                         [c[1] for c in self.fake.calls('DELETE')])

    def test_create_cloned_volume_through_a_snapshot_failing(self):
        # The temporary snapshot goes also when the clone fails.
        self.fake.native_clone = False
        src = self.volume(size=2)
        self.driver.create_volume(src)
        self.assertBackendError(['volume_too_small'],
                                self.driver.create_cloned_volume,
                                self.volume(fake.VOLUME2_ID, size=1), src)
        self.assertEqual({}, self.tandem(src)['snapshots'])
        self.assertNotIn('cinder-' + fake.VOLUME2_ID, self.fake.volumes)

    def test_create_cloned_volume_error(self):
        self.assertBackendError(['volume_not_found', 'cinder-' +
                                 fake.VOLUME_ID],
                                self.driver.create_cloned_volume,
                                self.volume(fake.VOLUME2_ID), self.volume())

    def test_revert_to_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.tandem(vol)['data'][:4] = b'v1v1'
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.tandem(vol)['data'][:4] = b'v2v2'
        self.driver.revert_to_snapshot(self.ctxt, vol, snap)
        self.assertEqual(b'v1v1', bytes(self.tandem(vol)['data']))
        self.assertEqual([], self.fake.calls('PATCH'))

    def test_revert_waits_while_the_volume_reverts(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.fake.creating_polls = 2
        gets_before = len(self.fake.calls('GET', '/v1/volumes/cinder-' + vol.id))
        self.driver.revert_to_snapshot(self.ctxt, vol, snap)
        # The revert answered 'creating', then two GETs did, the third
        # answered 'available'.
        gets = self.fake.calls('GET', '/v1/volumes/cinder-' + vol.id)
        self.assertEqual(3, len(gets) - gets_before)
        self.assertEqual(0, self.tandem(vol)['polls'])

    def test_revert_keeps_the_extended_size(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.driver.extend_volume(vol, 2)
        vol.size = 2
        self.driver.revert_to_snapshot(self.ctxt, vol, snap)
        self.assertEqual(2 * GI, self.tandem(vol)['size_bytes'])

    def test_revert_attached_volume_fails(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.driver.initialize_connection(vol, {'host': 'node1'})
        self.assertBackendError(['revert', 'volume_attached'],
                                self.driver.revert_to_snapshot, self.ctxt,
                                vol, snap)

    # -- exports and connections -------------------------------------------

    def test_exports_make_no_calls(self):
        vol = self.volume()
        self.assertIsNone(self.driver.create_export(self.ctxt, vol,
                                                    {'host': 'node1'}))
        self.assertIsNone(self.driver.ensure_export(self.ctxt, vol))
        self.assertIsNone(self.driver.remove_export(self.ctxt, vol))
        self.assertIsNone(self.driver.ensure_export(self.ctxt, vol))
        self.assertEqual([], self.fake.requests)

    def test_initialize_connection(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        connector = {'host': 'node2', 'initiator': 'iqn.x', 'ip': '10.0.0.2'}
        info = self.driver.initialize_connection(vol, connector)
        self.assertEqual({'driver_volume_type': 'local',
                          'data': {'device_path': '/dev/tandem/cinder-' +
                                   vol.id}}, info)
        att = self.tandem(vol)['attachments']['node2']
        self.assertEqual('block', att['mode'])
        self.assertEqual(connector, att['connector'])
        # The same attach again answers the same attachment.
        self.assertEqual(info, self.driver.initialize_connection(vol,
                                                                 connector))
        self.assertEqual(1, len(self.tandem(vol)['attachments']))

    def test_initialize_connection_waits_for_the_device(self):
        # The controller answers 'attaching' until the host has made the
        # device; the path goes back to Cinder only once it is 'attached'.
        vol = self.volume()
        self.driver.create_volume(vol)
        self.fake.attaching_polls = 3
        info = self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual('/dev/tandem/cinder-' + vol.id,
                         info['data']['device_path'])
        self.assertEqual('attached',
                         self.tandem(vol)['attachments']['node2']['state'])
        self.assertEqual(3, len(self.fake.calls(
            'GET', '/v1/volumes/cinder-%s/attachments' % vol.id)))

    def test_initialize_connection_attachment_error(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.fake.attaching_polls = 1
        self.fake.attach_error = 'no loop device free'
        self.assertBackendError(['attach cinder-%s on node2' % vol.id,
                                 'error', 'no loop device free'],
                                self.driver.initialize_connection, vol,
                                {'host': 'node2'})
        # The failed attachment is withdrawn (forced).
        self.assertEqual({}, self.tandem(vol)['attachments'])
        self.assertEqual({'force': 'true'}, self.fake.calls('DELETE')[-1][2])

    def test_initialize_connection_attach_timeout(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.set_conf(tandem_ready_timeout=1)
        self.fake.attaching_polls = 10 ** 6
        self.driver.poll_interval = 0.2
        self.assertBackendError(['the device is not there after 1 s'],
                                self.driver.initialize_connection, vol,
                                {'host': 'node2'})
        self.assertEqual({}, self.tandem(vol)['attachments'])

    def test_connection_info_is_what_os_brick_local_takes(self):
        # Cinder's own generic attach (backup, migration, image copy on the
        # cinder-volume host) and Nova hand connection_info to os-brick.
        vol = self.volume()
        self.driver.create_volume(vol)
        info = self.driver.initialize_connection(vol, {'host': 'node1'})
        brick = connector.InitiatorConnector.factory(
            info['driver_volume_type'], root_helper=None)
        device = brick.connect_volume(info['data'])
        self.assertEqual({'type': 'local',
                          'path': '/dev/tandem/cinder-' + vol.id}, device)
        self.assertEqual([device['path']],
                         brick.get_volume_paths(info['data']))
        brick.disconnect_volume(info['data'], device)

    def test_initialize_connection_needs_host(self):
        vol = self.volume()
        for connector in (None, {}, {'initiator': 'x'}):
            self.assertRaises(exception.InvalidConnectorException,
                              self.driver.initialize_connection, vol,
                              connector)
        self.assertEqual([], self.fake.requests)

    def test_initialize_connection_unknown_host(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.assertBackendError(['attach cinder-%s on elsewhere' % vol.id,
                                 'node_not_found', 'runs no tandem-node'],
                                self.driver.initialize_connection, vol,
                                {'host': 'elsewhere'})

    def test_initialize_connection_second_host_without_multiattach(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.initialize_connection(vol, {'host': 'node1'})
        self.assertBackendError(['volume_attached', 'HTTP 409'],
                                self.driver.initialize_connection, vol,
                                {'host': 'node2'})

    def test_initialize_connection_multiattach_group(self):
        vol = self.volume(pool='gold')
        self.driver.create_volume(vol)
        self.driver.initialize_connection(vol, {'host': 'node1'})
        self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual({'node1', 'node2'},
                         set(self.tandem(vol)['attachments']))

    def test_initialize_connection_answer_without_device(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        real_attach = self.fake._attach

        def nbd_only(v, body):
            status, att = real_attach(v, body)
            att = dict(att, connection_info={'driver_volume_type': 'nbd',
                                             'data': {}})
            return status, att
        self.mock_object(self.fake, '_attach', nbd_only)
        self.assertBackendError(['no local device path'],
                                self.driver.initialize_connection, vol,
                                {'host': 'node1'})

    def attached(self, hosts, pool='gold'):
        vol = self.volume(pool=pool)
        self.driver.create_volume(vol)
        for h in hosts:
            self.driver.initialize_connection(vol, {'host': h})
        return vol

    def test_terminate_connection(self):
        vol = self.attached(['node1', 'node2'])
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.assertEqual({'node2'}, set(self.tandem(vol)['attachments']))
        self.assertEqual({}, self.fake.calls('DELETE')[0][2])

    def test_terminate_connection_is_idempotent(self):
        vol = self.attached([])
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.driver.delete_volume(vol)
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.assertEqual(3, len(self.fake.calls('DELETE')))

    def test_terminate_connection_force(self):
        vol = self.attached(['node1'])
        self.tandem(vol)['attachments']['node1']['busy'] = True
        self.assertBackendError(['detach', 'device_busy'],
                                self.driver.terminate_connection, vol,
                                {'host': 'node1'})
        self.driver.terminate_connection(vol, {'host': 'node1'}, force=True)
        self.assertEqual({}, self.tandem(vol)['attachments'])
        self.assertEqual({'force': 'true'}, self.fake.calls('DELETE')[-1][2])

    def test_terminate_connection_without_connector_detaches_all(self):
        vol = self.attached(['node1', 'node2'])
        for att in self.tandem(vol)['attachments'].values():
            att['busy'] = True
        self.driver.terminate_connection(vol, None)
        self.assertEqual({}, self.tandem(vol)['attachments'])
        self.assertEqual([{'force': 'true'}] * 2,
                         [r[2] for r in self.fake.calls('DELETE')])

    def test_terminate_connection_without_connector_volume_gone(self):
        self.driver.terminate_connection(self.volume(), None)
        self.assertEqual([], self.fake.calls('DELETE'))

    def test_terminate_connection_error(self):
        vol = self.attached(['node1'])
        self.fake.fail('GET', '/attachments$', 500, 'internal', 'boom')
        self.assertBackendError(['force detach', 'boom'],
                                self.driver.terminate_connection, vol, None)

    def test_terminate_connection_asks_again_after_detach_timeout(self):
        # 503 detach_timeout: the host did not report the device gone in
        # time and the controller restored the attachment; ask again.
        vol = self.attached(['node1'])
        self.fake.fail('DELETE', '/attachments/node1$', 503, 'detach_timeout',
                       'host node1 did not report the device', times=2)
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.assertEqual({}, self.tandem(vol)['attachments'])
        self.assertEqual(3, len(self.fake.calls('DELETE')))

    def test_terminate_connection_detach_timeout_gives_up(self):
        vol = self.attached(['node1'])
        self.set_conf(tandem_ready_timeout=1)
        self.driver.poll_interval = 0.2
        self.fake.fail('DELETE', '/attachments/node1$', 503, 'detach_timeout',
                       'host node1 did not report the device', times=10 ** 6)
        self.assertBackendError(['detach cinder-%s from node1' % vol.id,
                                 'detach_timeout'],
                                self.driver.terminate_connection, vol,
                                {'host': 'node1'})

    def test_terminate_connection_other_503_is_final(self):
        vol = self.attached(['node1'])
        self.fake.fail('DELETE', '/attachments/node1$', 503, 'store_busy',
                       'busy', times=1)
        self.assertBackendError(['store_busy'],
                                self.driver.terminate_connection, vol,
                                {'host': 'node1'})
        self.assertEqual(1, len(self.fake.calls('DELETE')))

    def test_terminate_connection_keeps_device_for_other_attachment(self):
        vol = self.attached(['node1'])
        attachments = [objects.VolumeAttachment(
            self.ctxt, id=aid, volume_id=vol.id, attached_host='node1',
            attach_status='attached')
            for aid in (fake.ATTACHMENT_ID, fake.ATTACHMENT2_ID)]
        vol.volume_attachment = objects.VolumeAttachmentList(
            objects=attachments)
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.assertEqual({'node1'}, set(self.tandem(vol)['attachments']))
        self.assertEqual([], self.fake.calls('DELETE'))
        vol.volume_attachment = objects.VolumeAttachmentList(
            objects=attachments[:1])
        self.driver.terminate_connection(vol, {'host': 'node1'})
        self.assertEqual({}, self.tandem(vol)['attachments'])

    # -- image copy ----------------------------------------------------------

    def image_service(self, data):
        fake_image.FakeImageService_reset()
        service = fake_image.FakeImageService()
        uploaded = {}

        def update(ctx, image_id, metadata, data=None, **kwargs):
            uploaded[image_id] = data.read()
        self.mock_object(service, 'update', update)
        service.create(self.ctxt, {'id': IMAGE_ID, 'status': 'active',
                                   'disk_format': 'raw',
                                   'container_format': 'bare',
                                   'size': len(data)},
                       data=io.BytesIO(data))
        return service, uploaded

    def fetch_to_raw(self):
        """Cinder's fetch_to_raw, reduced to its effect (the image's bytes
        in ``dest``): run for real under Cinder's test fixtures, its format
        probe of the temporary file fails with EBADF on this machine."""
        calls = []

        def fetch(ctx, service, image_id, dest, blocksize, size=None,
                  run_as_root=True):
            calls.append((image_id, size, run_as_root))
            with open(dest, 'wb') as f:
                service.download(ctx, image_id, f)
        self.mock_object(drv.image_utils, 'fetch_to_raw', fetch)
        return calls

    def test_copy_image_to_volume(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        image = os.urandom(4096) * 16
        service, _ = self.image_service(image)
        calls = self.fetch_to_raw()
        self.driver.copy_image_to_volume(self.ctxt, vol, service, IMAGE_ID)
        self.assertEqual([(IMAGE_ID, 1, False)], calls)
        self.assertEqual(image, bytes(self.tandem(vol)['data']))
        self.assertEqual([len(image)],
                         [r[3] for r in self.fake.calls('PUT')])
        self.assertEqual([], os.listdir(os.path.join(self.tmp, 'conv')))

    def test_copy_image_to_volume_stream_error(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        service, _ = self.image_service(b'x' * 4096)
        self.fetch_to_raw()
        self.fake.fail('PUT', '/data$', 413, 'body_exceeds_volume', 'does not fit')
        self.assertBackendError(['write image', 'body_exceeds_volume', 'does not fit'],
                                self.driver.copy_image_to_volume, self.ctxt,
                                vol, service, IMAGE_ID)
        self.assertEqual(b'', bytes(self.tandem(vol)['data']))
        self.assertEqual([], os.listdir(os.path.join(self.tmp, 'conv')))

    def test_copy_volume_to_image(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        head = b'bootsector' * 100
        self.tandem(vol)['data'][:len(head)] = head
        service, uploaded = self.image_service(b'')
        meta = {'id': IMAGE_ID, 'disk_format': 'raw',
                'container_format': 'bare'}
        self.driver.copy_volume_to_image(self.ctxt, vol, service, meta)
        data = uploaded[IMAGE_ID]
        self.assertEqual(GI, len(data))
        self.assertEqual(head, data[:len(head)])
        self.assertEqual(0, data[len(head):].count(b'\x01'))
        self.assertEqual([], os.listdir(os.path.join(self.tmp, 'conv')))

    def test_copy_volume_to_image_stream_error(self):
        service, _ = self.image_service(b'')
        meta = {'id': IMAGE_ID, 'disk_format': 'raw',
                'container_format': 'bare'}
        self.assertBackendError(['read cinder-' + fake.VOLUME_ID,
                                 'volume_not_found'],
                                self.driver.copy_volume_to_image, self.ctxt,
                                self.volume(), service, meta)

    # -- retype --------------------------------------------------------------

    def new_type(self, specs):
        return fake_volume.fake_volume_type_obj(
            self.ctxt, id=fake.VOLUME_TYPE2_ID, extra_specs=specs)

    def test_retype_changes_group_and_replicas(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        new_type = self.new_type({'tandem:resource_group': 'gold'})
        result = self.driver.retype(self.ctxt, vol, new_type, {},
                                    {'host': HOST + '#gold'})
        self.assertEqual((True, None), result)
        self.assertEqual([{'resource_group': 'gold', 'replicas': 3}],
                         [r[3] for r in self.fake.calls('PATCH')])
        self.assertEqual('gold', self.tandem(vol)['resource_group'])

    def test_retype_replicas_only(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.retype(self.ctxt, vol,
                           self.new_type({'tandem:replicas': '1'}), {},
                           {'host': HOST + '#cinder'})
        self.assertEqual([{'replicas': 1}],
                         [r[3] for r in self.fake.calls('PATCH')])

    def test_retype_without_change_makes_no_patch(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.assertEqual((True, None), self.driver.retype(
            self.ctxt, vol, self.new_type({}), {}, {'host': HOST + '#cinder'}))
        self.assertEqual([], self.fake.calls('PATCH'))

    def test_retype_does_not_count_leaving_replicas(self):
        # A replica marked `leaving` (a group change still moving the
        # primary) goes: the volume already has the type's count.
        vol = self.volume()
        self.driver.create_volume(vol)
        staying = len(self.tandem(vol)['replicas'])
        self.tandem(vol)['replicas'].append(dict(
            node='node9', pool='default', diskful=True, primary=False,
            leaving=True, state='up_to_date', sync_progress=0, reason=''))
        self.assertEqual((True, None), self.driver.retype(
            self.ctxt, vol,
            self.new_type({'tandem:replicas': str(staying)}), {},
            {'host': HOST + '#cinder'}))
        self.assertEqual([], self.fake.calls('PATCH'))

    def test_retype_to_another_backend_is_a_migration(self):
        vol = self.volume()
        self.assertEqual((False, None), self.driver.retype(
            self.ctxt, vol, self.new_type({}), {},
            {'host': 'otherhost@other#pool'}))
        self.assertEqual((False, None), self.driver.retype(
            self.ctxt, vol, self.new_type({}), {'encryption': {'x': (1, 2)}},
            {'host': HOST + '#cinder'}))
        self.assertEqual([], self.fake.requests)

    def test_retype_error(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.fake.fail('PATCH', '^/v1/volumes/', 422, 'not_enough_nodes',
                       'gold needs 3 nodes')
        self.assertBackendError(['retype', 'gold needs 3 nodes'],
                                self.driver.retype, self.ctxt, vol,
                                self.new_type({}), {},
                                {'host': HOST + '#gold'})

    def test_retype_missing_volume(self):
        self.assertBackendError(['retype', 'volume_not_found'],
                                self.driver.retype, self.ctxt, self.volume(),
                                self.new_type({}), {},
                                {'host': HOST + '#cinder'})

    # -- manage / unmanage ---------------------------------------------------

    def test_manage_existing_get_size(self):
        self.fake.backings[('node2', 'default', 'old-disk')] = GI + GI // 2
        vol = self.volume()
        size = self.driver.manage_existing_get_size(
            vol, {'source-name': 'node2/default/old-disk'})
        self.assertEqual(2, size)
        self.assertEqual({}, self.fake.volumes)
        self.assertEqual({'node': 'node2', 'pool': 'default',
                          'backing_name': 'old-disk',
                          'resource_group': 'cinder', 'dry_run': True},
                         self.fake.calls('POST')[0][3])

    def test_manage_existing(self):
        self.fake.backings[('node2', 'default', 'old-disk')] = GI + GI // 2
        vol = self.volume(size=2)
        self.driver.manage_existing(vol, {'node': 'node2', 'pool': 'default',
                                          'backing_name': 'old-disk'})
        tv = self.tandem(vol)
        self.assertEqual(2 * GI, tv['size_bytes'])
        self.assertEqual(2, len(tv['replicas']))
        self.assertEqual([{'size_gib': 2, 'replicas': 2}],
                         [r[3] for r in self.fake.calls('PATCH')])

    def test_manage_existing_whole_gib_one_replica(self):
        self.fake.backings[('node1', 'default', 'disk')] = 3 * GI
        vol = self.volume(size=3, pool='thick')
        self.driver.manage_existing(vol, {'source-name': 'node1/default/disk'})
        self.assertEqual('thick', self.tandem(vol)['resource_group'])
        self.assertEqual([], self.fake.calls('PATCH'))

    def test_manage_existing_bad_reference(self):
        vol = self.volume()
        for ref in ({}, {'source-name': 'disk'}, {'source-name': 'a//b'},
                    {'source-id': 'x'}):
            self.assertRaises(exception.ManageExistingInvalidReference,
                              self.driver.manage_existing_get_size, vol, ref)
        self.assertEqual([], self.fake.requests)

    def test_manage_existing_unknown_backing(self):
        err = self.assertRaises(exception.ManageExistingInvalidReference,
                                self.driver.manage_existing, self.volume(),
                                {'source-name': 'node1/default/none'})
        self.assertIn('backing_not_found', str(err))

    def test_manage_existing_error(self):
        self.fake.fail('POST', '/adopt$', 500, 'io_error', 'lvs failed')
        self.assertBackendError(['adopt', 'io_error', 'lvs failed'],
                                self.driver.manage_existing, self.volume(),
                                {'source-name': 'node1/default/disk'})

    def test_unmanage(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.unmanage(vol)
        self.assertEqual({}, self.fake.volumes)
        self.assertEqual(['/v1/volumes/cinder-%s/forget' % vol.id],
                         [r[1] for r in self.fake.calls('POST')][1:])
        # Already gone: nothing to release.
        self.driver.unmanage(vol)

    def test_unmanage_error(self):
        self.fake.fail('POST', '/forget$', 409, 'volume_attached', 'in use')
        self.assertBackendError(['unmanage', 'volume_attached'],
                                self.driver.unmanage, self.volume())

    # -- stats ---------------------------------------------------------------

    def test_get_volume_stats(self):
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual(BACKEND, stats['volume_backend_name'])
        self.assertEqual('Tandem', stats['vendor_name'])
        self.assertEqual(drv.TandemDriver.VERSION, stats['driver_version'])
        pools = {p['pool_name']: p for p in stats['pools']}
        self.assertEqual({'cinder', 'gold', 'thick'}, set(pools))
        # cinder: 2 replicas over every online pool (320 GiB raw, 200 free).
        cinder = pools['cinder']
        self.assertEqual(160.0, cinder['total_capacity_gb'])
        self.assertEqual(100.0, cinder['free_capacity_gb'])
        self.assertEqual(45.0, cinder['provisioned_capacity_gb'])
        self.assertTrue(cinder['thin_provisioning_support'])
        self.assertFalse(cinder['thick_provisioning_support'])
        self.assertEqual(4.0, cinder['max_over_subscription_ratio'])
        self.assertFalse(cinder['multiattach'])
        self.assertTrue(cinder['online_extend_support'])
        self.assertFalse(cinder['QoS_support'])
        self.assertEqual(2, cinder['tandem_replicas'])
        # gold: 3 replicas on 'fast' only, but only 2 online nodes have it.
        gold = pools['gold']
        self.assertEqual(round(20.0 / 3, 2), gold['total_capacity_gb'])
        self.assertEqual(0, gold['free_capacity_gb'])
        self.assertTrue(gold['multiattach'])
        thick = pools['thick']
        self.assertFalse(thick['thin_provisioning_support'])
        self.assertTrue(thick['thick_provisioning_support'])
        self.assertEqual(1.0, thick['max_over_subscription_ratio'])
        self.assertEqual(320.0, thick['total_capacity_gb'])

    def test_get_volume_stats_cached_until_refresh(self):
        self.driver.get_volume_stats(refresh=True)
        self.driver.get_volume_stats()
        self.assertEqual(2, len(self.fake.requests))
        self.driver.get_volume_stats(refresh=True)
        self.assertEqual(4, len(self.fake.requests))

    def test_get_volume_stats_selected_groups(self):
        self.set_conf(tandem_resource_groups=['gold'], reserved_percentage=7)
        stats = self.make_driver().get_volume_stats(refresh=True)
        self.assertEqual(['gold'], [p['pool_name'] for p in stats['pools']])
        self.assertEqual(7, stats['pools'][0]['reserved_percentage'])

    def test_get_volume_stats_controller_down(self):
        self.fake.fail('GET', '^/v1/storage-pools$', 500, 'store_io_error',
                       'disk I/O error')
        with mock.patch.object(drv.LOG, 'warning') as warning:
            stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertEqual([], stats['pools'])
        self.assertIn('disk I/O error', str(warning.call_args))
        # Back up at the next refresh.
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual(3, len(stats['pools']))
