#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Cinder volume driver for Tandem, replicated block storage.

Each driver call is one or two calls of the Tandem controller's REST API.
Tandem names derive from Cinder ids (``cinder-<volume name_id>``,
``cinder-snap-<snapshot id>``), so the driver keeps no state: a restarted
cinder-volume finds everything by name. Each Tandem resource group is one
Cinder pool. Attachments are Tandem block attachments on
``connector['host']`` (a host running tandem-node), returned to os-brick as
the ``local`` connection type.
"""

import math
import os
import time

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder import exception
from cinder.i18n import _
from cinder.image import image_utils
from cinder import interface
from cinder.volume import configuration
from cinder.volume import driver
from cinder.volume import volume_utils

from tandem_cinder import client as tandem_client

LOG = logging.getLogger(__name__)

tandem_opts = [
    cfg.ListOpt('tandem_controller_urls',
                default=[],
                help='HTTPS URLs of the Tandem controller '
                     '(https://host:port), tried in turn while one '
                     'cannot be reached or answers 503.'),
    cfg.StrOpt('tandem_token_file',
               help='File holding the controller\'s service token (or the '
                    'admin token). Read at every request.'),
    cfg.StrOpt('tandem_ca_file',
               help='PEM CA bundle that verifies the controller\'s '
                    'certificate; unset: the system CA store.'),
    cfg.StrOpt('tandem_default_resource_group',
               default='cinder',
               help='Resource group of volumes whose type names none '
                    '(tandem:resource_group) and whose host has no pool.'),
    cfg.ListOpt('tandem_resource_groups',
                default=[],
                help='Resource groups reported as Cinder pools; empty: '
                     'every group of the controller.'),
    cfg.IntOpt('tandem_connect_timeout',
               default=10, min=1,
               help='Seconds to wait for a TCP/TLS connection to a '
                    'controller before trying the next URL.'),
    cfg.IntOpt('tandem_request_timeout',
               default=60, min=1,
               help='Seconds to wait for each read of a controller\'s '
                    'answer.'),
    cfg.IntOpt('tandem_ready_timeout',
               default=600, min=1,
               help='Seconds a new volume (plain, clone or from a snapshot) '
                    'may stay "creating" before the create fails.'),
]

CONF = cfg.CONF
CONF.register_opts(tandem_opts, group=configuration.SHARED_CONF_GROUP)

API_VERSION = 'v1'
VOLUME_PREFIX = 'cinder-'
SNAPSHOT_PREFIX = 'cinder-snap-'
# A clone's temporary snapshot of its source (see _clone_through_snapshot).
CLONE_SNAPSHOT_PREFIX = 'cinder-clone-'
SPEC_GROUP = 'tandem:resource_group'
SPEC_REPLICAS = 'tandem:replicas'
MAX_REPLICAS = 8


def volume_name(volume):
    """The Tandem name of a Cinder volume (name_id follows a migration)."""
    return VOLUME_PREFIX + volume.name_id


def snapshot_name(snapshot):
    return SNAPSHOT_PREFIX + snapshot.id


def _gib(size_bytes):
    """Bytes to whole GiB, rounded up (Cinder sizes are whole GiB)."""
    return int(math.ceil(size_bytes / float(units.Gi)))


@interface.volumedriver
class TandemDriver(driver.VolumeDriver):
    """Tandem replicated block storage.

    Version history:

    .. code-block:: none

        1.0.0 - Initial driver: volumes, snapshots, clones, revert, extend,
                retype, manage/unmanage, image copy by data streaming,
                block attachments (os-brick 'local').
    """

    VERSION = '1.0.0'
    CI_WIKI_NAME = 'Tandem_CI'

    # Seconds between two polls of a volume that is still 'creating'.
    poll_interval = 1.0

    def __init__(self, *args, **kwargs):
        super(TandemDriver, self).__init__(*args, **kwargs)
        self.configuration.append_config_values(tandem_opts)
        self.client = None
        self._stats = {}

    @staticmethod
    def get_driver_options():
        return tandem_opts

    # -- setup -------------------------------------------------------------

    def _conf(self, name):
        return self.configuration.safe_get(name)

    def do_setup(self, context):
        urls = self._conf('tandem_controller_urls') or []
        token_file = self._conf('tandem_token_file')
        ca_file = self._conf('tandem_ca_file')
        if not urls:
            raise exception.InvalidConfigurationValue(
                value='', option='tandem_controller_urls')
        if not token_file:
            raise exception.InvalidConfigurationValue(
                value='', option='tandem_token_file')
        if ca_file and not os.path.isfile(ca_file):
            raise exception.InvalidConfigurationValue(
                value=ca_file, option='tandem_ca_file')
        try:
            self.client = tandem_client.Client(
                urls, token_file, ca_file,
                connect_timeout=self._conf('tandem_connect_timeout'),
                request_timeout=self._conf('tandem_request_timeout'))
        except (ValueError, OSError) as e:
            LOG.error('Tandem driver configuration is invalid: %s', e)
            raise exception.InvalidConfigurationValue(
                value=','.join(urls), option='tandem_controller_urls')

    def check_for_setup_error(self):
        try:
            version = self.client.version()
        except tandem_client.TandemError as e:
            raise self._backend_error(
                _('Cannot reach the Tandem controller (%(urls)s): '
                  '%(err)s'),
                urls=', '.join(self._conf('tandem_controller_urls')),
                err=e)
        if (version or {}).get('api_version') != API_VERSION:
            raise self._backend_error(
                _('Incompatible Tandem API version %(found)s (controller '
                  '%(version)s); this driver needs %(wanted)s'),
                found=(version or {}).get('api_version'),
                version=(version or {}).get('version'),
                wanted=API_VERSION)
        group = self._conf('tandem_default_resource_group')
        try:
            self.client.get(tandem_client.path('resource-groups', group))
        except tandem_client.TandemError as e:
            if e.status == 401:
                msg = _('The Tandem controller refused the token in '
                        '%(file)s: %(err)s')
            elif e.status == 403:
                msg = _('The token in %(file)s may not read resource groups '
                        '(use the controller\'s service token): %(err)s')
            elif e.status == 404:
                msg = _('The default resource group %(group)s does not '
                        'exist (tandem group create %(group)s): %(err)s')
            else:
                msg = _('Reading resource group %(group)s failed: %(err)s')
            raise self._backend_error(
                msg, file=self._conf('tandem_token_file'), group=group, err=e)

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _backend_error(msg, **kwargs):
        text = msg % kwargs
        LOG.error('%s', text)
        return exception.VolumeBackendAPIException(data=text)

    def _call(self, what, method, url_path, body=None, query=None,
              missing_ok=False):
        """One REST call; a controller error becomes VolumeBackendAPIException
        carrying its code and message. With missing_ok, 404 returns None."""
        LOG.debug('Tandem %(what)s: %(method)s %(path)s',
                  {'what': what, 'method': method, 'path': url_path})
        try:
            return self.client.request(method, url_path, body=body,
                                       query=query)
        except tandem_client.TandemError as e:
            if missing_ok and e.status == 404:
                LOG.info('Tandem %(what)s: already gone (%(code)s)',
                         {'what': what, 'code': e.code})
                return None
            raise self._api_error(what, e)

    def _api_error(self, what, e):
        return self._backend_error(
            _('Tandem %(what)s failed: %(code)s: %(message)s%(status)s'),
            what=what, code=e.code, message=e.message,
            status=' (HTTP %s)' % e.status if e.status else '')

    @staticmethod
    def _extra_specs(volume_or_type):
        if isinstance(volume_or_type, dict) or not hasattr(
                volume_or_type, 'volume_type_id'):
            return dict(volume_or_type.get('extra_specs') or {})
        if not volume_or_type.volume_type_id:
            return {}
        return dict(volume_or_type.volume_type.extra_specs or {})

    def _group(self, specs, host):
        """The resource group for a volume of a type with ``specs`` placed on
        ``host`` (host@backend#pool): the type's tandem:resource_group, else
        the scheduler's pool, else the default group."""
        wanted = specs.get(SPEC_GROUP)
        pool = volume_utils.extract_host(host, 'pool') if host else None
        if wanted and pool and wanted != pool:
            raise exception.InvalidVolumeType(
                reason=_('the type asks for resource group %(wanted)s but '
                         'the scheduler chose pool %(pool)s; add '
                         'pool_name=%(wanted)s to the type') %
                {'wanted': wanted, 'pool': pool})
        return wanted or pool or self._conf('tandem_default_resource_group')

    @staticmethod
    def _replicas(specs):
        """The type's tandem:replicas (1-8), or None when it names none."""
        value = specs.get(SPEC_REPLICAS)
        if value is None or value == '':
            return None
        try:
            replicas = int(str(value).strip())
        except ValueError:
            replicas = 0
        if not 1 <= replicas <= MAX_REPLICAS:
            raise exception.InvalidVolumeType(
                reason=_('%(key)s must be a whole number from 1 to %(max)d, '
                         'not %(value)r') %
                {'key': SPEC_REPLICAS, 'max': MAX_REPLICAS, 'value': value})
        return replicas

    def _wait_ready(self, view, url_path, what):
        """Polls a Tandem object (a view from a create) until it leaves
        'creating'; 'error' or the ready timeout fail the create."""
        deadline = time.monotonic() + self._conf('tandem_ready_timeout')
        view = view or {}
        while view.get('state') == 'creating':
            if time.monotonic() >= deadline:
                raise self._backend_error(
                    _('Tandem %(what)s: still creating after %(t)s s '
                      '(%(reason)s)'), what=what,
                    t=self._conf('tandem_ready_timeout'),
                    reason=view.get('reason') or 'no reason given')
            time.sleep(self.poll_interval)
            view = self._call(what, 'GET', url_path) or {}
        if view.get('state') == 'error':
            raise self._backend_error(
                _('Tandem %(what)s: the controller reports error: '
                  '%(reason)s'), what=what, reason=view.get('reason'))
        return view

    def _create(self, volume, source=None):
        """POST /v1/volumes (from ``source`` when given), then PATCH the
        replica count when the type names one, then wait until ready."""
        name = volume_name(volume)
        specs = self._extra_specs(volume)
        replicas = self._replicas(specs)
        body = {'name': name, 'size_gib': volume.size,
                'resource_group': self._group(specs, volume.host)}
        if source:
            body['source'] = source
        what = 'create volume %s' % name
        try:
            view = self.client.post(tandem_client.path('volumes'), body)
        except tandem_client.TandemError as e:
            if (e.status == 422 and e.code == 'not_implemented' and source
                    and 'snapshot' not in source):
                # A controller without direct clones (only volumes from a
                # snapshot): clone through a snapshot of the source.
                return self._clone_through_snapshot(volume, source['volume'])
            raise self._api_error(what, e)
        if replicas is not None:
            view = self._call(what, 'PATCH',
                              tandem_client.path('volumes', name),
                              {'replicas': replicas})
        self._wait_ready(view, tandem_client.path('volumes', name), what)

    def _clone_through_snapshot(self, volume, source):
        """Clones ``source`` as a volume made from a temporary snapshot of
        it (named after the new volume, so a retried clone finds it), which
        is deleted once the clone is ready or has failed."""
        snap = CLONE_SNAPSHOT_PREFIX + volume.name_id
        snaps = tandem_client.path('volumes', source, 'snapshots')
        what = 'clone %s through snapshot %s' % (source, snap)
        LOG.info('Tandem %s: the controller has no direct clone', what)
        view = self._call(what, 'POST', snaps, {'name': snap})
        try:
            self._wait_ready(view, tandem_client.path(
                'volumes', source, 'snapshots', snap), what)
            self._create(volume, {'volume': source, 'snapshot': snap})
        finally:
            self._call(what, 'DELETE', tandem_client.path(
                'volumes', source, 'snapshots', snap), missing_ok=True)

    # -- volumes -----------------------------------------------------------

    def create_volume(self, volume):
        self._create(volume)

    def create_cloned_volume(self, volume, src_vref):
        self._create(volume, {'volume': volume_name(src_vref)})

    def create_volume_from_snapshot(self, volume, snapshot):
        self._create(volume, {'volume': volume_name(snapshot.volume),
                              'snapshot': snapshot_name(snapshot)})

    def delete_volume(self, volume):
        name = volume_name(volume)
        try:
            self.client.delete(tandem_client.path('volumes', name))
        except tandem_client.TandemError as e:
            if e.status == 404:
                LOG.info('Tandem volume %s is already gone', name)
                return
            if e.status == 409:
                LOG.warning('Tandem refused to delete %(name)s: %(err)s',
                            {'name': name, 'err': e})
                raise exception.VolumeIsBusy(
                    message=_('Tandem volume %(name)s is in use: %(code)s: '
                              '%(message)s') %
                    {'name': name, 'code': e.code, 'message': e.message})
            raise self._api_error('delete volume %s' % name, e)

    def extend_volume(self, volume, new_size):
        name = volume_name(volume)
        self._call('extend volume %s to %s GiB' % (name, new_size), 'PATCH',
                   tandem_client.path('volumes', name), {'size_gib': new_size})

    # -- snapshots ---------------------------------------------------------

    def create_snapshot(self, snapshot):
        vol, name = volume_name(snapshot.volume), snapshot_name(snapshot)
        what = 'create snapshot %s of %s' % (name, vol)
        view = self._call(what, 'POST',
                          tandem_client.path('volumes', vol, 'snapshots'),
                          {'name': name})
        self._wait_ready(view, tandem_client.path('volumes', vol, 'snapshots',
                                                  name), what)

    def delete_snapshot(self, snapshot):
        vol, name = volume_name(snapshot.volume), snapshot_name(snapshot)
        try:
            self.client.delete(
                tandem_client.path('volumes', vol, 'snapshots', name))
        except tandem_client.TandemError as e:
            if e.status == 404:
                LOG.info('Tandem snapshot %(s)s of %(v)s is already gone',
                         {'s': name, 'v': vol})
                return
            if e.status == 409:
                raise exception.SnapshotIsBusy(
                    message=_('Tandem snapshot %(name)s is in use: %(code)s: '
                              '%(message)s') %
                    {'name': name, 'code': e.code, 'message': e.message})
            raise self._api_error('delete snapshot %s of %s' % (name, vol), e)

    def revert_to_snapshot(self, context, volume, snapshot):
        vol, name = volume_name(volume), snapshot_name(snapshot)
        what = 'revert %s to snapshot %s' % (vol, name)
        url = tandem_client.path('volumes', vol)
        view = self._call(what, 'POST', tandem_client.path(
            'volumes', vol, 'snapshots', name, 'revert'), {})
        if not view:
            view = self._call(what, 'GET', url)
        # The controller answers at once; the volume is 'creating' until its
        # primary has reverted (the other replicas then resync from it).
        view = self._wait_ready(view, url, what)
        # Cinder keeps the volume's size across a revert: grow it back when
        # the snapshot is older than an extend (the controller keeps the size,
        # so this is a safety net).
        if view.get('size_bytes', 0) < volume.size * units.Gi:
            self._call(what, 'PATCH', tandem_client.path('volumes', vol),
                       {'size_gib': volume.size})

    # -- exports and attachments -------------------------------------------

    def create_export(self, context, volume, connector):
        """Nothing to export: initialize_connection makes the attachment."""

    def ensure_export(self, context, volume):
        """The controller keeps attachments across restarts of anything."""

    def remove_export(self, context, volume):
        """terminate_connection removes the attachment."""

    def validate_connector(self, connector):
        if not connector or not connector.get('host'):
            raise exception.InvalidConnectorException(missing='host')

    def initialize_connection(self, volume, connector, **kwargs):
        self.validate_connector(connector)
        name, host = volume_name(volume), connector['host']
        what = 'attach %s on %s' % (name, host)
        view = self._call(what, 'POST',
                          tandem_client.path('volumes', name, 'attachments'),
                          {'host': host, 'mode': 'block',
                           'connector': connector})
        view = self._wait_attached(view or {}, name, host, what)
        info = view.get('connection_info') or {}
        if info.get('driver_volume_type') != 'local' or not (
                info.get('data') or {}).get('device_path'):
            raise self._backend_error(
                _('Tandem %(what)s: the answer has no local device path: '
                  '%(info)s'), what=what, info=info)
        LOG.info('Tandem volume %(name)s attached on %(host)s at %(dev)s',
                 {'name': name, 'host': host,
                  'dev': info['data']['device_path']})
        return info

    def _wait_attached(self, view, name, host, what):
        """Polls the volume's attachments until the one on ``host`` is
        'attached': the controller answers 'attaching' until the host has
        made the device, and the caller (Nova, os-brick) opens the device
        path as soon as it gets it. 'error' or the ready timeout fail the
        attach, which is then withdrawn."""
        deadline = time.monotonic() + self._conf('tandem_ready_timeout')
        url = tandem_client.path('volumes', name, 'attachments')
        while view.get('state') == 'attaching':
            if time.monotonic() >= deadline:
                self._withdraw(name, host, what)
                raise self._backend_error(
                    _('Tandem %(what)s: the device is not there after %(t)s '
                      's (%(reason)s)'), what=what,
                    t=self._conf('tandem_ready_timeout'),
                    reason=view.get('reason') or 'no reason given')
            time.sleep(self.poll_interval)
            listing = self._call(what, 'GET', url) or {}
            view = next((a for a in listing.get('attachments') or []
                         if a.get('host') == host), {})
        if view.get('state') != 'attached':
            self._withdraw(name, host, what)
            raise self._backend_error(
                _('Tandem %(what)s: the attachment is %(state)s: '
                  '%(reason)s'), what=what,
                state=view.get('state') or 'gone',
                reason=view.get('reason') or 'no reason given')
        return view

    def _withdraw(self, name, host, what):
        """Best effort: removes a failed attachment (forced, nothing uses
        the device yet)."""
        try:
            self.client.delete(tandem_client.path(
                'volumes', name, 'attachments', host),
                query={'force': 'true'})
        except tandem_client.TandemError as e:
            LOG.warning('Tandem %(what)s: withdrawing the failed attachment '
                        'failed: %(err)s', {'what': what, 'err': e})

    @staticmethod
    def _attachments_on(volume, host):
        return [a for a in (volume.volume_attachment or [])
                if a.attach_status == 'attached' and a.attached_host == host]

    def terminate_connection(self, volume, connector, **kwargs):
        name = volume_name(volume)
        force = bool(kwargs.get('force'))
        if connector is None:
            # Force detach from every host (Cinder's os-force_detach).
            what = 'force detach %s' % name
            listing = self._call(what, 'GET', tandem_client.path(
                'volumes', name, 'attachments'), missing_ok=True)
            for att in (listing or {}).get('attachments', []):
                self._call(what, 'DELETE', tandem_client.path(
                    'volumes', name, 'attachments', att['host']),
                    query={'force': 'true'}, missing_ok=True)
            return
        host = connector.get('host')
        if not host:
            raise exception.InvalidConnectorException(missing='host')
        if len(self._attachments_on(volume, host)) > 1:
            LOG.info('Tandem volume %(name)s stays attached on %(host)s: '
                     'another attachment there still uses it',
                     {'name': name, 'host': host})
            return
        self._detach(name, host, force)

    def _detach(self, name, host, force):
        """DELETE the host's attachment. 503 detach_timeout means the host did
        not report the device gone within the controller's wait and the
        attachment was restored (nothing done): asked again until
        tandem_ready_timeout."""
        what = 'detach %s from %s' % (name, host)
        url = tandem_client.path('volumes', name, 'attachments', host)
        deadline = time.monotonic() + self._conf('tandem_ready_timeout')
        while True:
            try:
                self.client.delete(url, query={'force': 'true'} if force else None)
                return
            except tandem_client.TandemError as e:
                if e.status == 404:
                    LOG.info('Tandem %(what)s: already gone (%(code)s)',
                             {'what': what, 'code': e.code})
                    return
                if (getattr(e, 'busy_code', None) != 'detach_timeout' or
                        time.monotonic() >= deadline):
                    raise self._api_error(what, e)
                LOG.warning('Tandem %(what)s: the host has not removed the '
                            'device yet, asking again: %(err)s',
                            {'what': what, 'err': e})
            time.sleep(self.poll_interval)

    # -- image copy through the data stream --------------------------------

    def copy_image_to_volume(self, context, volume, image_service, image_id):
        name = volume_name(volume)
        with image_utils.temporary_file(prefix='tandem_image_') as tmp:
            image_utils.fetch_to_raw(
                context, image_service, image_id, tmp,
                self.configuration.volume_dd_blocksize,
                size=volume.size, run_as_root=False)
            length = os.path.getsize(tmp)
            if length == 0:  # nothing to write (a PUT carries at least one byte)
                return
            with open(tmp, 'rb') as f:
                try:
                    self.client.upload(
                        tandem_client.path('volumes', name, 'data'), f, length)
                except tandem_client.TandemError as e:
                    raise self._api_error(
                        'write image %s into %s' % (image_id, name), e)
        LOG.info('Tandem volume %(name)s: wrote %(n)d bytes of image '
                 '%(image)s', {'name': name, 'n': length, 'image': image_id})

    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        name = volume_name(volume)
        with image_utils.temporary_file(prefix='tandem_volume_') as tmp:
            with open(tmp, 'wb') as f:
                try:
                    self.client.download(
                        tandem_client.path('volumes', name, 'data'), f)
                except tandem_client.TandemError as e:
                    raise self._api_error('read %s for image %s'
                                          % (name, image_meta['id']), e)
            volume_utils.upload_volume(context, image_service, image_meta,
                                       tmp, volume, run_as_root=False)

    # -- retype, manage, unmanage ------------------------------------------

    def retype(self, context, volume, new_type, diff, host):
        """Changes the resource group and replica count in place (PATCH);
        a move to another backend or an encryption change is left to Cinder's
        generic migration (returns False)."""
        if (volume_utils.extract_host(host['host'], 'backend') !=
                volume_utils.extract_host(volume.host, 'backend')):
            return False, None
        if (diff or {}).get('encryption'):
            return False, None
        name = volume_name(volume)
        specs = self._extra_specs(new_type)
        group = self._group(specs, host['host'])
        replicas = self._replicas(specs)
        what = 'retype %s' % name
        current = self._call(what, 'GET', tandem_client.path('volumes', name))
        if replicas is None:
            replicas = self._call(what, 'GET', tandem_client.path(
                'resource-groups', group))['replicas']
        body = {}
        if current['resource_group'] != group:
            body['resource_group'] = group
        if self._diskful(current) != replicas:
            body['replicas'] = replicas
        if body:
            self._call(what, 'PATCH', tandem_client.path('volumes', name),
                       body)
        return True, None

    @staticmethod
    def _diskful(view):
        """How many replicas holding data a volume view lists, leaving
        out those marked ``leaving`` (a group change is removing them)."""
        return len([r for r in view.get('replicas') or []
                    if r.get('diskful', True) and not r.get('leaving', False)])

    @staticmethod
    def _adopt_ref(existing_ref):
        """{'source-name': 'NODE/POOL/BACKING'} or {'node', 'pool',
        'backing_name'} -> the adopt request's fields."""
        if all(existing_ref.get(k) for k in ('node', 'pool', 'backing_name')):
            return {k: existing_ref[k]
                    for k in ('node', 'pool', 'backing_name')}
        parts = str(existing_ref.get('source-name') or '').split('/')
        if len(parts) != 3 or not all(parts):
            raise exception.ManageExistingInvalidReference(
                existing_ref=existing_ref,
                reason=_('give source-name as NODE/POOL/BACKING_NAME, or '
                         'node, pool and backing_name'))
        return dict(zip(('node', 'pool', 'backing_name'), parts))

    def _adopt(self, volume, existing_ref, dry_run):
        name = volume_name(volume)
        body = self._adopt_ref(existing_ref)
        body['resource_group'] = self._group(self._extra_specs(volume),
                                             volume.host)
        if dry_run:
            body['dry_run'] = True
        try:
            return self.client.post(
                tandem_client.path('volumes', name, 'adopt'), body)
        except tandem_client.TandemError as e:
            if e.status in (404, 409, 422):
                raise exception.ManageExistingInvalidReference(
                    existing_ref=existing_ref,
                    reason='%s: %s' % (e.code, e.message))
            raise self._api_error('adopt %s as %s' % (
                existing_ref, name), e)

    def manage_existing_get_size(self, volume, existing_ref):
        return _gib(self._adopt(volume, existing_ref, True)['size_bytes'])

    def manage_existing(self, volume, existing_ref):
        name = volume_name(volume)
        view = self._adopt(volume, existing_ref, False)
        what = 'manage %s' % name
        replicas = self._replicas(self._extra_specs(volume))
        if replicas is None:
            replicas = self._call(what, 'GET', tandem_client.path(
                'resource-groups', view['resource_group']))['replicas']
        body = {}
        if view['size_bytes'] % units.Gi:
            body['size_gib'] = _gib(view['size_bytes'])
        if replicas != self._diskful(view):
            body['replicas'] = replicas
        if body:
            self._call(what, 'PATCH', tandem_client.path('volumes', name),
                       body)

    def unmanage(self, volume):
        name = volume_name(volume)
        self._call('unmanage %s' % name, 'POST',
                   tandem_client.path('volumes', name, 'forget'), {},
                   missing_ok=True)

    # -- stats -------------------------------------------------------------

    def _pool_stats(self, group, storage_pools):
        """One Cinder pool for a resource group: the usable capacity of the
        online storage pools the group may use, divided by its replica count
        (each GiB of a volume takes that many GiB of raw space)."""
        allowed = set(group.get('pools') or [])
        usable = [p for p in storage_pools if p.get('state') == 'online' and
                  (not allowed or p['name'] in allowed)]
        replicas = max(int(group.get('replicas') or 1), 1)
        nodes = len({p['node'] for p in usable})
        total = sum(p['total_bytes'] for p in usable)
        free = sum(p['free_bytes'] for p in usable)
        provisioned = sum(p.get('provisioned_bytes', 0) for p in usable)
        if nodes < replicas:
            # Placement needs one replica per distinct node: nothing fits.
            free = 0
        thin = bool(group.get('thin'))

        def gib(n):
            return round(n / float(replicas) / units.Gi, 2)

        return {
            'pool_name': group['name'],
            'total_capacity_gb': gib(total),
            'free_capacity_gb': gib(free),
            'provisioned_capacity_gb': gib(provisioned),
            'reserved_percentage': self._conf('reserved_percentage') or 0,
            'thin_provisioning_support': thin,
            'thick_provisioning_support': not thin,
            'max_over_subscription_ratio': (
                float(group.get('overprovision') or 1) if thin else 1.0),
            'multiattach': bool(group.get('allow_multiattach', False)),
            'online_extend_support': True,
            'QoS_support': False,
            'consistencygroup_support': False,
            'consistent_group_snapshot_enabled': False,
            'replication_enabled': False,
            'tandem_replicas': replicas,
            'backend_state': 'up',
            'filter_function': self.get_filter_function(),
            'goodness_function': self.get_goodness_function(),
        }

    def _update_volume_stats(self):
        backend = self._conf('volume_backend_name') or self.__class__.__name__
        stats = {
            'volume_backend_name': backend,
            'vendor_name': 'Tandem',
            'driver_version': self.VERSION,
            'storage_protocol': 'tandem',
            'pools': [],
        }
        try:
            groups = self.client.get(
                tandem_client.path('resource-groups'))['resource_groups']
            pools = self.client.get(
                tandem_client.path('storage-pools'))['storage_pools']
        except tandem_client.TandemError as e:
            LOG.warning('Tandem backend %(backend)s reported down: reading '
                        'capacity failed: %(err)s',
                        {'backend': backend, 'err': e})
            stats['backend_state'] = 'down'
            self._stats = stats
            return
        wanted = set(self._conf('tandem_resource_groups') or [])
        stats['pools'] = [self._pool_stats(g, pools) for g in groups
                          if not wanted or g['name'] in wanted]
        self._stats = stats

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats
