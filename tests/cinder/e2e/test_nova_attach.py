"""Nova's side of a Tandem attach (issue 11 item 4), with Nova's and os-brick's own code
(Debian's python3-nova 26, python3-os-brick 6.1) and a real libvirtd/QEMU (TCG).

Nova's libvirt driver has no Tandem (or NBD/DRBD) volume type: Cinder's driver returns the
`local` type, which Nova maps to LibvirtVolumeDriver (VOLUME_DRIVERS['local']) and for which
os-brick's LOCAL connector only checks the path. Here: the real Cinder driver, configured by a
cinder.conf like an operator's, attaches a volume of a real Tandem node on this host (its
connector's host); the connection_info gets what Cinder's attachment API adds; os-brick's
LOCAL connector accepts it; LibvirtVolumeDriver builds the disk config; libvirtd hot-plugs that
XML into a running TCG domain (virsh attach-device, domblklist, QEMU's own view), QEMU writes
through it and the host reads the write on the Tandem device; then detach and clean up.
Needs root, /dev/fuse, loop devices, libvirt-daemon-system and qemu-system-x86.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'script', 'lib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from localcluster import LocalCluster  # noqa: E402
from test_attachments import disk_fuse_processes_under, loop_devices_under  # noqa: E402

import openstack_services as services  # noqa: E402
from libvirt_daemon import Libvirtd  # noqa: E402

BIN_DIR = os.environ.get('TANDEM_BIN_DIR') or os.path.join(ROOT, 'build', 'test', 'bin')
NODE = 'node1'  # Nova's host on this machine: the Tandem node here
GiB = 1 << 30

DOMAIN = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='scsi' index='0' model='virtio-scsi'/>
  </devices>
</domain>
"""


class FakeHost(object):
    """What LibvirtVolumeDriver asks of Nova's Host for a plain disk: no encryption secret."""

    def find_secret(self, usage_type, usage_id):
        return None


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists('/dev/fuse'), 'needs root and /dev/fuse')
class NovaAttachTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='tandem-nova-')
        self.cluster = LocalCluster(os.path.join(self.tmp, 'tandem'), BIN_DIR, nodes=1)
        self.libvirtd = Libvirtd(self.tmp)
        self.domain = None
        self.addCleanup(self.cleanup)
        self.cluster.start()
        self.cluster.api.post('/v1/resource-groups', {'name': 'nova', 'replicas': 1})
        self.cinder_conf = services.write_ini(os.path.join(self.tmp, 'cinder.conf'), {
            'DEFAULT': {'enabled_backends': 'tandem', 'state_path': self.tmp,
                        'lock_path': os.path.join(self.tmp, 'lock')},
            'tandem': {'volume_driver': 'tandem_cinder.driver.TandemDriver', 'volume_backend_name': 'tandem',
                       'tandem_controller_urls': self.cluster.url,
                       'tandem_token_file': self.cluster.service_token_file,
                       'tandem_ca_file': self.cluster.ca, 'tandem_default_resource_group': 'nova'}})
        self.libvirtd.start()

    def cleanup(self):
        try:
            if self.domain:
                subprocess.run(['virsh', '-c', self.libvirtd.uri, 'destroy', self.domain], capture_output=True)
        finally:
            self.libvirtd.stop()
            if self.cluster.api:
                for v in self.cluster.api.get('/v1/volumes')['volumes']:
                    for a in self.cluster.api.get('/v1/volumes/%s/attachments' % v['name'])['attachments']:
                        self.cluster.api.call('DELETE', '/v1/volumes/%s/attachments/%s?force=true'
                                              % (v['name'], a['host']))
                try:
                    services.wait_for('no loop device of the test', lambda: not loop_devices_under(self.tmp), 30)
                finally:
                    self.cluster.stop()
        left = (loop_devices_under(self.tmp), disk_fuse_processes_under(self.tmp))
        self.assertEqual(([], []), left, 'loop devices or tandem-disk-fuse left behind')

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            root = self.cluster.root
            services.dump(self.libvirtd.logs() + ['/var/log/libvirt/qemu/%s.log' % self.domain] +
                          [os.path.join(root, n) for n in sorted(os.listdir(root)) if n.endswith('.log')])
        shutil.rmtree(self.tmp, ignore_errors=True)  # after the logs were shown
        return out

    def driver(self, action, volume_id):
        p = subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'driver_call.py'), self.cinder_conf, action,
                            volume_id, NODE], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONPATH=services.DRIVER_DIR, PYTHONDONTWRITEBYTECODE='1'))
        self.assertEqual(0, p.returncode, p.stdout + p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def hmp(self, command):
        return self.libvirtd.virsh('qemu-monitor-command', '--hmp', self.domain, command)

    def test_nova_hot_plugs_a_tandem_volume(self):
        from nova.virt.libvirt import driver as nova_libvirt
        from nova.virt.libvirt.volume.volume import LibvirtVolumeDriver
        from os_brick.initiator import connector

        volume_id = str(uuid.uuid4())
        info = self.driver('attach', volume_id)
        # What Cinder's attachment API adds before Nova gets it (seen in the e2e test), and the
        # serial Nova's block device layer sets.
        info['data'].update(access_mode='rw', qos_specs=None, encrypted=False, cacheable=False,
                            attachment_id=str(uuid.uuid4()))
        info['serial'] = volume_id
        self.assertEqual('local', info['driver_volume_type'])
        device = info['data']['device_path']
        self.assertEqual(os.path.join(self.cluster.device_link_root(NODE), 'cinder-' + volume_id), device)

        # Nova picks LibvirtVolumeDriver for 'local'.
        self.assertEqual('nova.virt.libvirt.volume.volume.LibvirtVolumeDriver',
                         nova_libvirt.VOLUME_DRIVERS['local'])
        # os-brick's LOCAL connector accepts the connection_info's data.
        brick = connector.InitiatorConnector.factory('LOCAL', root_helper=None)
        self.assertEqual({'type': 'local', 'path': device}, brick.connect_volume(info['data']))
        self.assertEqual([device], brick.get_volume_paths(info['data']))
        # Nova's volume driver: connect is a no-op for local, then the disk config.
        nova_driver = LibvirtVolumeDriver(FakeHost())
        nova_driver.connect_volume(info, None)
        conf = nova_driver.get_config(info, {'bus': 'scsi', 'dev': 'sdb', 'type': 'disk', 'unit': 1})
        disk_xml = conf.to_xml()
        disk = ET.fromstring(disk_xml)
        self.assertEqual(('block', 'disk'), (disk.get('type'), disk.get('device')))
        self.assertEqual(device, disk.find('source').get('dev'))
        self.assertEqual(('sdb', 'scsi'), (disk.find('target').get('dev'), disk.find('target').get('bus')))
        self.assertEqual(volume_id, disk.find('serial').text)
        # QEMU runs as libvirt-qemu and opens the path Nova gives it: a real host's
        # /dev/tandem is searchable by all; this test's link root lies in private temp dirs.
        d = os.path.dirname(device)
        while len(d) >= len(self.tmp):
            os.chmod(d, 0o755)
            d = os.path.dirname(d)
        xml_file = os.path.join(self.tmp, 'disk.xml')
        with open(xml_file, 'w') as f:
            f.write(disk_xml)

        # Data written on the host through the Tandem device, before QEMU opens it.
        pattern = os.urandom(64 * 1024)
        with open(device, 'r+b', buffering=0) as f:
            f.write(pattern)
            os.fsync(f.fileno())

        # A running TCG domain; the hot-plug with Nova's XML.
        self.domain = 'tandem-nova-' + volume_id[:8]
        dom_file = os.path.join(self.tmp, 'domain.xml')
        with open(dom_file, 'w') as f:
            f.write(DOMAIN % self.domain)
        self.libvirtd.virsh('create', dom_file)
        self.libvirtd.virsh('attach-device', self.domain, xml_file, '--live')
        listing = self.libvirtd.virsh('domblklist', self.domain)
        self.assertIn(('sdb', device), [tuple(line.split()) for line in listing.splitlines()[2:] if line.strip()],
                      listing)
        blkinfo = self.libvirtd.virsh('domblkinfo', self.domain, 'sdb')
        self.assertIn('Capacity:       %d' % GiB, blkinfo)  # QEMU's own size of the device
        block = self.hmp('info block')
        self.assertIn(device, block)
        # QEMU reads the host's write and writes through the device (its qemu-io on the drive);
        # the host reads QEMU's write on the Tandem device.
        qdev = next(line.split(':')[1].strip() for line in block.splitlines() if 'Attached to:' in line
                    and 'scsi0-0-0-1' in line)
        qemu_pattern = 0x5c
        out = self.hmp('qemu-io -d %s "write -P 0x%x 1M 64k"' % (qdev, qemu_pattern))
        self.assertNotIn('failed', out.lower(), out)
        self.hmp('qemu-io -d %s "flush"' % qdev)
        with open(device, 'rb', buffering=0) as f:
            self.assertEqual(pattern, f.read(len(pattern)))
            f.seek(1 << 20)
            self.assertEqual(bytes([qemu_pattern]) * 65536, f.read(65536))

        # Detach (SCSI: no guest cooperation needed), then Cinder's terminate and delete.
        self.libvirtd.virsh('detach-device', self.domain, xml_file, '--live')
        services.wait_for('sdb gone from the domain',
                          lambda: 'sdb' not in self.libvirtd.virsh('domblklist', self.domain), 30)
        nova_driver.disconnect_volume(info, None)
        self.libvirtd.virsh('destroy', self.domain)
        self.domain = None
        self.assertEqual({'detached': True}, self.driver('detach', volume_id))
        self.assertFalse(os.path.lexists(device))
        self.assertEqual([], self.cluster.api.get('/v1/volumes')['volumes'])


if __name__ == '__main__':
    unittest.main()
