"""Write quorum with real processes: a resource group with `quorum: majority`. With both
secondaries frozen (SIGSTOP: a primary cut off from its replicas), the primary refuses writes
with EIO instead of acknowledging them alone: the first after --peer-timeout, the next at once and
without touching its own copy. When the secondaries resume they are resynced and writes work
again; the replicas end identical."""

import time

from clusterfixture import ClusterTestCase, run, wait_for

MiB = 1 << 20
PEER_TIMEOUT_S = 2


class QuorumTest(ClusterTestCase):
    node_args = (f"--peer-timeout={PEER_TIMEOUT_S}s",)

    def write_fails(self, uri, command):
        p = run("qemu-io", "-f", "raw", "-t", "none", "-c", command, uri, check=False)
        out = p.stdout + p.stderr
        self.assertIn("Input/output error", out, out)

    def test_primary_without_a_majority_refuses_writes(self):
        api = self.cluster.api
        group = api.post("/v1/resource-groups", {"name": "safe", "replicas": 3, "quorum": "majority"})
        self.assertEqual(group["quorum"], "majority")
        vol = self.available_volume("qv", 16 * MiB, group="safe")
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x61 0 1M")

        secondaries = [r["node"] for r in vol["replicas"] if not r["primary"]]
        for name in secondaries:
            self.cluster.nodes[name].pause()
            self.addCleanup(self.cluster.nodes[name].resume)
        self.write_fails(uri, "write -P 0x62 4M 1M")    # waits for the ACKs, then loses quorum
        start = time.monotonic()
        self.write_fails(uri, "write -P 0x63 8M 1M")    # refused before it is applied
        self.assertLess(time.monotonic() - start, PEER_TIMEOUT_S, "without quorum a write is refused at once")

        # The controller learns of the loss from the primary's next report; only then resume, so
        # that "available" below is the resynced state and not the one from before the freeze.
        wait_for("the volume to leave 'available'", lambda: self.cluster.volume("qv")["state"] != "available", 30)
        for name in secondaries:
            self.cluster.nodes[name].resume()
        vol = self.cluster.wait_volume_state("qv", "available", timeout=120)
        self.qemu_io(uri, "read -P 0x61 0 1M", "read -P 0x00 8M 1M", "write -P 0x64 12M 1M", "read -P 0x64 12M 1M")
        self.assert_replicas_identical(vol)
