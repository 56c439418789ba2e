"""A secondary that hangs instead of dying: its process is frozen with SIGSTOP, so its sockets stay
open and the kernel keeps acknowledging TCP, but nothing answers (a hung or powered-off host behind
a switch looks like this; kill -9 instead resets the connection at once). The primary must drop it
after --peer-timeout and go on acknowledging writes on the other replicas; when the process
resumes, it must be resynced, not trusted: every acknowledged write reads back and the three
replicas end identical."""

import time

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20
PEER_TIMEOUT_S = 2


class FrozenPeerTest(ClusterTestCase):
    node_args = (f"--peer-timeout={PEER_TIMEOUT_S}s",)

    def test_frozen_secondary_is_dropped_then_resynced(self):
        vol = self.available_volume("vol", 32 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x11 0 8M")

        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        self.cluster.nodes[victim].pause()
        self.addCleanup(self.cluster.nodes[victim].resume)
        start = time.monotonic()
        self.qemu_io(uri, "write -P 0x22 4M 8M")          # FUA writes: need every live replica
        elapsed = time.monotonic() - start
        print(f"\nfirst write after freezing {victim}: {elapsed:.1f} s (peer timeout {PEER_TIMEOUT_S} s)")
        self.assertLess(elapsed, PEER_TIMEOUT_S + 20, "a frozen peer must not stall writes for long")
        start = time.monotonic()
        self.qemu_io(uri, "write -P 0x33 16M 4M")
        self.assertLess(time.monotonic() - start, PEER_TIMEOUT_S, "once dropped, the peer costs nothing")
        wait_for(f"{victim} offline", lambda: self.cluster.node_state(victim) == "offline", 30)
        self.assertEqual(self.cluster.volume("vol")["state"], "degraded")

        self.cluster.nodes[victim].resume()
        wait_for(f"{victim} online", lambda: self.cluster.node_state(victim) == "online", 30)
        vol = self.cluster.wait_volume_state("vol", "available", timeout=120)
        self.qemu_io(uri, "read -P 0x11 0 4M", "read -P 0x22 4M 8M", "read -P 0x00 12M 4M", "read -P 0x33 16M 4M",
                     "read -P 0x00 20M 12M")
        self.assert_replicas_identical(vol)
