"""Shared pieces of the integration tests: a LocalCluster per test class in a fresh temp dir."""

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster, ApiError, wait_for  # noqa: E402,F401
from netns import Network  # noqa: E402

BIN_DIR = os.environ.get("TANDEM_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "test", "bin")


def run(*argv, check=True):
    """Runs a real client; fails the test with its output if it exits non-zero."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def processes_where(match):
    """Pids of the processes whose argv (a list of bytes) satisfies `match`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and match(argv):
            found.append(int(pid))
    return found


class ClusterTestCase(unittest.TestCase):
    nodes = 3
    controller_args = ()
    node_args = ()  # extra arguments of every node worker the fixture starts
    # True: every node runs on its own host in a network namespace (tests/integration/netns.py,
    # self.network), the controller on the bridge between them. Needs root.
    network_namespaces = False
    # A size ("64m"): every node's default pool is its own tmpfs of that size, mounted before the
    # nodes start and unmounted after they stop, so the pools are equal and other tests' writes
    # to this machine's file system do not move their free space. Needs root.
    pool_tmpfs = None

    @classmethod
    def node_args_for(cls, name):
        """Extra arguments of node worker `name` (node1, node2, ...): node_args unless a test
        class gives some nodes others (called after cls.tmp exists)."""
        return cls.node_args

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tandem-it-")
        cls.network = None
        cls.tmpfs_pools = []
        options = {"node_args": lambda name: cls.node_args_for(name)}
        if cls.network_namespaces:
            names = [f"node{i}" for i in range(1, cls.nodes + 1)]
            cls.network = Network(names)
            net = cls.network
            options = {
                "controller_host": net.gateway,
                "node_wrapper": net.wrap,
                "node_args": lambda name: (f"--address={net.address(name)}", f"--listen={net.address(name)}",
                                           *cls.node_args_for(name)),
            }
        cls.cluster = LocalCluster(cls.tmp, BIN_DIR, nodes=cls.nodes, controller_args=cls.controller_args,
                                   **options)
        try:
            if cls.pool_tmpfs:
                for i in range(1, cls.nodes + 1):
                    pool = cls.cluster.pool_dir(f"node{i}")
                    os.makedirs(pool, exist_ok=True)
                    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={cls.pool_tmpfs}", "tmpfs", pool],
                                   check=True)
                    cls.tmpfs_pools.append(pool)
            cls.cluster.start()
        except Exception:
            cls.dump_logs()
            cls._stop_cluster()
            raise

    @classmethod
    def _stop_cluster(cls):
        cls.cluster.stop()
        for pool in cls.tmpfs_pools:
            subprocess.run(["umount", pool], check=False)
        if cls.network:
            cls.network.close()

    @classmethod
    def tearDownClass(cls):
        cls._stop_cluster()
        if os.environ.get("TANDEM_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def dump_logs(cls):
        for name in sorted(os.listdir(cls.tmp)):
            if name.endswith(".log"):
                with open(os.path.join(cls.tmp, name), errors="replace") as f:
                    tail = f.readlines()[-40:]
                print(f"----- {name} (last lines)\n" + "".join(tail), file=sys.stderr)

    def available_volume(self, name, size_bytes, replicas=3, group=None):
        """Creates a volume in `group` (an existing resource group), or else in a plain group
        "r<replicas>" made here (idempotently), waits until it is available and returns its view."""
        if group is None:
            group = f"r{replicas}"
            self.cluster.api.post("/v1/resource-groups", {"name": group, "replicas": replicas})
        self.cluster.api.post("/v1/volumes", {"name": name, "size_bytes": size_bytes, "resource_group": group})
        return self.cluster.wait_volume_state(name, "available", timeout=60)

    def tandem(self, *argv, expect=0):
        """Runs the real `tandem` CLI against the cluster (admin token); fails the test unless it
        exits `expect`. Returns the CompletedProcess (text output)."""
        env = dict(os.environ, TANDEM_URL=self.cluster.url, TANDEM_TOKEN=self.cluster.token,
                   TANDEM_CA_FILE=self.cluster.ca, HOME=self.tmp)
        p = subprocess.run([os.path.join(BIN_DIR, "tandem"), *argv], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, expect, f"tandem {' '.join(argv)}:\n{p.stdout}\n{p.stderr}")
        return p

    def qemu_io(self, uri, *commands, cache="none"):
        """Runs qemu-io's `commands` on `uri` (cache=none: writes carry FUA); fails the test on any
        failed command or pattern mismatch."""
        argv = ["qemu-io", "-f", "raw", "-t", cache]
        for c in commands:
            argv += ["-c", c]
        p = run(*argv, uri)
        self.assertNotIn("failed", p.stdout + p.stderr, p.stdout + p.stderr)
        return p

    class FuaWriter:
        """A thread writing 1 MiB with FUA (one qemu-io per write) at offset(i) with pattern(i) for
        i = 0, 1, ... until stop(); `acknowledged` lists (offset, pattern) of each completed write
        in order, `errors` the output of a failed one (the writer then stops)."""

        def __init__(self, uri, offset, pattern):
            self.acknowledged, self.errors, self._stop = [], [], threading.Event()

            def loop():
                i = 0
                while not self._stop.is_set():
                    o, p = offset(i), pattern(i)
                    r = run("qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P {p} {o} 1M", uri, check=False)
                    if r.returncode != 0 or "failed" in r.stdout + r.stderr:
                        self.errors.append(r.stdout + r.stderr)
                        return
                    self.acknowledged.append((o, p))
                    i += 1
            self._thread = threading.Thread(target=loop)
            self._thread.start()

        def stop(self):
            self._stop.set()
            self._thread.join()

    def assert_replicas_identical(self, volume, count=3):
        """The backing files of every replica of `volume` (a volume view) are byte-identical."""
        files = [self.cluster.backing_file(r["node"], volume["uuid"]) for r in volume["replicas"]]
        self.assertEqual(len(files), count)
        for f in files[1:]:
            self.assertTrue(filecmp.cmp(files[0], f, shallow=False), f"{files[0]} and {f} differ")

    def start_node_on_tmpfs(self, name, size):
        """Starts node worker `name` with its default pool on a tmpfs of `size` (e.g. "24m"), mounted
        for this test and unmounted (after stopping the node) when it ends. Needs root."""
        pool = self.cluster.pool_dir(name)
        os.makedirs(pool, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", pool], check=True)

        def unmount():
            self.cluster.nodes[name].stop()
            subprocess.run(["umount", pool], check=False)

        self.addCleanup(unmount)
        self.cluster.start_node(name)
        wait_for(f"node {name} online", lambda: any(
            n["name"] == name and n["state"] == "online" for n in self.cluster.api.get("/v1/nodes")["nodes"]), 30)
        return pool

    def run(self, result=None):
        # Print the daemons' logs when a test fails, so CI output explains itself.
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            self.dump_logs()
        return out
