"""Self-healing with real processes: a node worker holding a secondary replica is killed and stays
down past the controller's --replace-replicas-after; the controller re-creates that replica on the
spare node, the primary resyncs it while a client keeps the data, and the volume is available
again with three identical replicas. A snapshot taken before the loss stays usable and names the
copies that remain. When the dead node comes back, it removes its stale copy."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class SelfHealingTest(ClusterTestCase):
    nodes = 4
    controller_args = ("--replace-replicas-after=3s",)

    def test_lost_replica_is_recreated_on_the_spare_node(self):
        vol = self.available_volume("healme", 32 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x41 0 8M", "write -P 0x42 24M 4M")
        self.cluster.api.post("/v1/volumes/healme/snapshots", {"name": "before-loss"})
        wait_for("the snapshot on every replica", lambda: len(
            self.cluster.api.get("/v1/volumes/healme/snapshots/before-loss")["copies"]) == 3, 60)

        holders = {r["node"] for r in vol["replicas"]}
        spare = next(n for n in self.cluster.nodes if n not in holders)
        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        old_file = self.cluster.backing_file(victim, vol["uuid"])
        self.assertTrue(os.path.exists(old_file))
        self.cluster.nodes[victim].kill9()
        self.qemu_io(uri, "write -P 0x43 8M 4M")   # while the victim is down

        wait_for(f"replica moved from {victim} to {spare}", lambda: {
            r["node"] for r in self.cluster.volume("healme")["replicas"]} == (holders - {victim}) | {spare}, 60)
        vol = self.cluster.wait_volume_state("healme", "available", timeout=120)
        self.qemu_io(uri, "read -P 0x41 0 8M", "read -P 0x43 8M 4M", "read -P 0x00 12M 12M", "read -P 0x42 24M 4M")
        self.assert_replicas_identical(vol)
        # The snapshot survives the move and says which copies remain (the new replica has none).
        snap = self.cluster.api.get("/v1/volumes/healme/snapshots/before-loss")
        self.assertEqual(snap["state"], "available")
        self.assertEqual(sorted(snap["copies"]), sorted(holders - {victim}))
        self.cluster.api.post("/v1/volumes", {"name": "from-before-loss", "size_bytes": 32 * MiB,
                                              "resource_group": "r3",
                                              "source": {"volume": "healme", "snapshot": "before-loss"}})
        copy = self.cluster.wait_volume_state("from-before-loss", "available", timeout=120)
        self.qemu_io(copy["nbd_uri"], "read -P 0x41 0 8M", "read -P 0x00 8M 16M", "read -P 0x42 24M 4M")

        # The dead node returns: the replica is no longer its to keep.
        self.cluster.start_node(victim)
        wait_for(f"{victim} removes its stale replica", lambda: not os.path.exists(old_file), 30)
        self.assertEqual(self.cluster.volume("healme")["state"], "available")
