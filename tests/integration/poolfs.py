"""tandem-pool-fs as a real process for the integration tests (test_pool_fs, test_libvirt_pool):
started in the foreground with its own log, ready once its FUSE mount shows in mountinfo, stopped
with SIGTERM (which unmounts) and waited for."""

import os
import signal
import subprocess

from clusterfixture import BIN_DIR, wait_for


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class PoolFs:
    def __init__(self, cluster, group, mount, state_dir, log_path, node_name="node1", extra=()):
        self.mount, self.log_path = mount, log_path
        self.argv = [os.path.join(BIN_DIR, "tandem-pool-fs"), f"--group={group}", f"--mount={mount}",
                     f"--controller-url={cluster.url}", f"--token-file={cluster.service_token_file}",
                     f"--ca-file={cluster.ca}", f"--node-name={node_name}", f"--state-dir={state_dir}",
                     "--log-level=debug", *extra]
        self.proc = None

    @property
    def volumes(self):
        return os.path.join(self.mount, "volumes")

    def start(self):
        os.makedirs(self.mount, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(f"tandem-pool-fs mounted on {self.mount}",
                 lambda: mounted(self.mount) or self.proc.poll() is not None, 30)
        if self.proc.poll() is not None:
            raise RuntimeError(f"tandem-pool-fs exited {self.proc.returncode}; see {self.log_path}")
        return self

    def stop(self):
        """SIGTERM: unmounts (the files must be closed) and exits 0."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            subprocess.run(["umount", "-l", self.mount], check=False)
        self.log.close()
        return rc
