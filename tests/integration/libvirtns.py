"""A private libvirt for the tests: virtlogd and libvirtd started by hand (no systemd) in a mount
namespace of their own, where /etc/libvirt (a copy), /run/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt are directories under `root`. libvirtd listens on
<root>/sock/libvirt-sock (virsh -c self.uri). `shared` is a directory under `root` bind-mounted
onto itself and made a shared mount: what is mounted below it later (tandem-pool-fs) shows inside
the namespace too, and unmounting it there unmounts it inside. stop_daemons() stops both daemons by
pid (the namespace goes with them); unmount_shared() unmounts `shared`. Needs root."""

import os
import shutil
import signal
import subprocess
import time

from clusterfixture import run, wait_for

PRIVATE_DIRS = ("run/libvirt", "var/lib/libvirt", "var/log/libvirt", "var/cache/libvirt", "etc/libvirt")


def read(path):
    with open(path) as f:
        return f.read().strip()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class PrivateLibvirt:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.shared = os.path.join(self.root, "shared")
        self.uri = f"qemu:///system?socket={self.root}/sock/libvirt-sock"
        self.pids = []
        self._shared_mounted = False

    def start(self):
        os.makedirs(self.shared, exist_ok=True)
        run("mount", "--bind", self.shared, self.shared)
        self._shared_mounted = True
        run("mount", "--make-shared", self.shared)
        os.makedirs(os.path.join(self.root, "sock"), exist_ok=True)
        for d in PRIVATE_DIRS:
            target = os.path.join(self.root, "ns", d)
            source = "/" + d
            if os.path.isdir(source) and d in ("etc/libvirt", "var/lib/libvirt"):
                shutil.copytree(source, target, symlinks=True)
            else:
                os.makedirs(target, exist_ok=True)
        with open(os.path.join(self.root, "libvirtd.conf"), "w") as f:
            f.write(f'unix_sock_dir = "{self.root}/sock"\nunix_sock_rw_perms = "0700"\nauth_unix_rw = "none"\n'
                    'auth_unix_ro = "none"\nlisten_tls = 0\nlisten_tcp = 0\n')
        binds = "; ".join(f"mount --bind {self.root}/ns/{d} /{d}" for d in PRIVATE_DIRS)
        script = (f"set -e; {binds}; virtlogd -d -p {self.root}/virtlogd.pid; "
                  f"LIBVIRT_LOG_OUTPUTS='1:file:{self.root}/libvirtd.log' LIBVIRT_LOG_FILTERS='1:storage 3:qemu 4:*' "
                  f"libvirtd -d -f {self.root}/libvirtd.conf -p {self.root}/libvirtd.pid")
        run("unshare", "--mount", "--propagation", "slave", "sh", "-c", script)
        for name in ("virtlogd", "libvirtd"):
            path = os.path.join(self.root, f"{name}.pid")
            wait_for(f"{name}'s pid file", lambda: os.path.exists(path) and read(path), 30)
            self.pids.append(int(read(path)))
        wait_for("libvirtd to answer", lambda: self.virsh("version", check=False).returncode == 0, 60)
        return self

    def virsh(self, *args, check=True):
        """virsh inside the namespace (so that even the client's runtime files stay private)."""
        return run("nsenter", f"--mount=/proc/{self.pids[-1]}/ns/mnt", "virsh", "-q", "-c", self.uri, *args,
                   check=check)

    def domain_log(self, domain):
        """The domain's log (QEMU's stdout/stderr), in the namespace's /var/log/libvirt/qemu."""
        return os.path.join(self.root, "ns", "var/log/libvirt/qemu", f"{domain}.log")

    def stop_daemons(self):
        """Stops libvirtd and virtlogd (by pid); returns the pids still alive (none)."""
        for pid in reversed(self.pids):
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(pid_alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        return [p for p in self.pids if pid_alive(p)]

    def unmount_shared(self):
        if self._shared_mounted:
            subprocess.run(["umount", "-R", self.shared], check=False)
            self._shared_mounted = False
