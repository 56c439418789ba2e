"""Promotion when the primary's node is gone, with real processes (a group with quorum): the
primary's node worker is killed with -9; promotion is refused while the evidence says it is unsafe and succeeds for an
up-to-date secondary; the volume is then served by the new primary (a new NBD URI) with every
acknowledged write, takes new writes, and when the old primary's node returns it becomes a
secondary and is resynced: the three replicas end identical."""

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20


class PromoteTest(ClusterTestCase):
    def test_promote_after_the_primary_is_lost(self):
        api = self.cluster.api
        # With quorum, evidence is enough; without, promotion always needs force
        # (test_partitioned_primary.py).
        api.post("/v1/resource-groups", {"name": "q3", "replicas": 3, "quorum": "majority"})
        vol = self.available_volume("pv", 32 * MiB, group="q3")
        old_uri, old_primary = vol["nbd_uri"], vol["primary_node"]
        self.qemu_io(old_uri, "write -P 0x71 0 8M", "write -P 0x72 20M 4M")

        target = next(r["node"] for r in vol["replicas"] if not r["primary"])
        with self.assertRaises(ApiError) as online:
            api.post("/v1/volumes/pv/promote", {"node": target})
        self.assertEqual((online.exception.status, online.exception.code), (409, "primary_online"))

        self.cluster.nodes[old_primary].kill9()
        wait_for(f"{old_primary} offline", lambda: self.cluster.node_state(old_primary) == "offline", 30)
        promoted = api.post("/v1/volumes/pv/promote", {"node": target})
        self.assertEqual(promoted["primary_node"], target)
        self.assertEqual((vol["epoch"], promoted["epoch"]), (1, 2))
        self.assertNotEqual(promoted["nbd_uri"], old_uri)
        new_uri = promoted["nbd_uri"]

        # The new primary serves every acknowledged write and takes new ones (it may take a
        # moment to export: the node applies its desired state).
        wait_for("the new primary exports the volume", lambda: self.try_read(new_uri), 30)
        self.qemu_io(new_uri, "read -P 0x71 0 8M", "read -P 0x72 20M 4M", "write -P 0x73 8M 4M")

        # The old primary returns as a secondary and is resynced from the new one.
        self.cluster.start_node(old_primary)
        vol = self.cluster.wait_volume_state("pv", "available", timeout=120)
        self.assertEqual(vol["primary_node"], target)
        self.qemu_io(new_uri, "read -P 0x71 0 8M", "read -P 0x73 8M 4M", "read -P 0x00 12M 8M", "read -P 0x72 20M 4M")
        self.assert_replicas_identical(vol)

    def try_read(self, uri):
        try:
            self.qemu_io(uri, "read 0 4k")
            return True
        except AssertionError:
            return False
