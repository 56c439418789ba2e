"""A libvirtd (with its virtlogd) started by hand for a test: private client sockets under a
temp dir, logs there, stopped by PID. The QEMU driver's own state (/run/libvirt/qemu,
/var/lib/libvirt/qemu, virtlogd's socket) is host-wide: ctest serialises the tests that start
libvirtd with RESOURCE_LOCK libvirtd. See ../shared/recipes/libvirt.md."""

import os
import socket
import subprocess

from openstack_services import Service, tail, wait_for


def unix_socket_answers(path):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class Libvirtd(object):
    def __init__(self, root):
        self.root = os.path.join(root, 'libvirt')
        self.sock_dir = os.path.join(self.root, 'run')
        self.uri = 'qemu:///system?socket=%s/libvirt-sock' % self.sock_dir
        self.services = []

    def start(self):
        os.makedirs(self.sock_dir, exist_ok=True)
        conf = os.path.join(self.root, 'libvirtd.conf')
        with open(conf, 'w') as f:
            f.write('unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'log_outputs = "3:file:%s"\n' % (self.sock_dir, os.path.join(self.root, 'libvirtd.log')))
        self.services.append(Service('virtlogd', ['virtlogd', '-p', os.path.join(self.root, 'virtlogd.pid')],
                                     os.path.join(self.root, 'virtlogd.out')).start())
        wait_for('virtlogd socket', lambda: unix_socket_answers('/run/libvirt/virtlogd-sock'), 30)
        daemon = Service('libvirtd', ['libvirtd', '-f', conf, '-p', os.path.join(self.root, 'libvirtd.pid')],
                         os.path.join(self.root, 'libvirtd.out')).start()
        self.services.append(daemon)
        wait_for('libvirtd answering', lambda: self.answers() or not daemon.running(), 60)
        if not daemon.running():
            raise RuntimeError('libvirtd exited:\n' + tail(daemon.log))
        return self

    def answers(self):
        return subprocess.run(['virsh', '-c', self.uri, 'version'], capture_output=True).returncode == 0

    def virsh(self, *args):
        p = subprocess.run(['virsh', '-c', self.uri] + list(args), capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError('virsh %s exited %d:\n%s\n%s' % (' '.join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def stop(self):
        for s in reversed(self.services):
            s.stop()

    def logs(self):
        return [os.path.join(self.root, 'libvirtd.log')] + [s.log for s in self.services]
