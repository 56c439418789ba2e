"""The primary's node worker is stopped and started again (a clean restart, e.g. an upgrade): it
keeps its identity, exports the volume again, its peers need no resync (same generation), and
the data is intact. A kill -9 of the primary instead forces a resync of both peers."""

import filecmp

from clusterfixture import ClusterTestCase, run, wait_for

MiB = 1 << 20


class PrimaryRestartTest(ClusterTestCase):
    def restart_primary(self, name, hard):
        vol = self.cluster.volume(name)
        primary = vol["primary_node"]
        if hard:
            self.cluster.nodes[primary].kill9()
        else:
            self.cluster.nodes[primary].stop()
        wait_for(f"{primary} offline", lambda: self.cluster.node_state(primary) == "offline", 30)
        self.assertEqual(self.cluster.volume(name)["state"], "degraded")
        marker = f"---- restart ({'kill -9' if hard else 'clean'})\n"
        with open(self.cluster.nodes[primary].log_path, "a") as f:
            f.write(marker)
        self.cluster.start_node(primary)
        # Until the restarted node reports, the controller still holds its report from before the
        # stop ("available"): first wait until the node itself has every peer back.
        peers = [r["node"] for r in vol["replicas"] if r["node"] != primary]

        def log():
            with open(self.cluster.nodes[primary].log_path, errors="replace") as f:
                return f.read().split(marker)[-1]

        for p in peers:
            wait_for(f"{primary} to have {p} back",
                     lambda: f"peer {p} up to date" in log() or f"sync to {p} done" in log(), 120)
        vol = self.cluster.wait_volume_state(name, "available", timeout=120)
        return vol, log()

    def assert_identical(self, vol):
        files = [self.cluster.backing_file(r["node"], vol["uuid"]) for r in vol["replicas"]]
        for f in files[1:]:
            self.assertTrue(filecmp.cmp(files[0], f, shallow=False), f"{files[0]} and {f} differ")

    def test_clean_and_hard_restart_of_the_primary(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        api.post("/v1/volumes", {"name": "steady", "size_bytes": 32 * MiB, "resource_group": "triple"})
        vol = self.cluster.wait_volume_state("steady", "available", timeout=60)
        run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x42 0 8M", vol["nbd_uri"])

        vol, log = self.restart_primary("steady", hard=False)
        run("qemu-io", "-f", "raw", "-c", "read -P 0x42 0 8M", "-c", "read -P 0 8M 24M", vol["nbd_uri"])
        self.assertNotIn("full sync", log, "a clean restart must not resync the peers")
        self.assert_identical(vol)

        run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x43 8M 8M", vol["nbd_uri"])
        vol, log = self.restart_primary("steady", hard=True)
        self.assertIn("full sync", log, "an unclean primary cannot vouch for its peers: they are resynced")
        run("qemu-io", "-f", "raw", "-c", "read -P 0x42 0 8M", "-c", "read -P 0x43 8M 8M", vol["nbd_uri"])
        self.assert_identical(vol)
