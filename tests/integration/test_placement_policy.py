"""Placement policy of resource groups, with real node workers:
- `replicas_on_different`: node labels given to `tandem-node --label` spread replicas, so no two
  replicas share a zone; a group that cannot be spread is refused with the values found, and the
  refused create leaves nothing behind;
- `overprovision`: a thin group promises a pool at most that many times its size, counting
  replicas placed a moment ago that no heartbeat has reported yet.
The over-provisioning part mounts a small tmpfs as the pool (needs root; skipped otherwise)."""

import os
import unittest

from clusterfixture import ApiError, ClusterTestCase, run, wait_for

MiB = 1 << 20
ZONES = {"a1": "a", "a2": "a", "b1": "b"}


class LabelSpreadTest(ClusterTestCase):
    nodes = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name, zone in ZONES.items():
            cls.cluster.start_node(name, [f"--label=zone={zone}", "--label=rack=r1"])
        cls.cluster.start_node("nolabel")
        wait_for("four nodes online", lambda: cls.cluster.online_nodes() == 4, 30)

    def test_nodes_show_their_labels(self):
        nodes = {n["name"]: n for n in self.cluster.api.get("/v1/nodes")["nodes"]}
        self.assertEqual(nodes["a1"]["labels"], {"zone": "a", "rack": "r1"})
        self.assertEqual(nodes["nolabel"]["labels"], {})

    def test_replicas_land_in_distinct_zones(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "by-zone", "replicas": 2, "replicas_on_different": ["zone"]})
        for i in range(4):
            vol = api.post("/v1/volumes", {"name": f"z{i}", "size_bytes": 4 * MiB, "resource_group": "by-zone"})
            zones = sorted(ZONES[r["node"]] for r in vol["replicas"])
            self.assertEqual(zones, ["a", "b"], vol["replicas"])
        vol = self.cluster.wait_volume_state("z0", "available", timeout=60)
        run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x5a 0 1M", "-c", "read -P 0x5a 0 1M",
            vol["nbd_uri"])

    def test_a_group_that_cannot_be_spread_is_refused_and_leaves_nothing(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "three-zones", "replicas": 3, "replicas_on_different": ["zone"]})
        with self.assertRaises(ApiError) as ctx:
            api.post("/v1/volumes", {"name": "nowhere", "size_bytes": 4 * MiB, "resource_group": "three-zones"})
        self.assertEqual((ctx.exception.status, ctx.exception.code), (422, "not_enough_nodes"))
        self.assertIn("zone: 'a', 'b'", ctx.exception.body)
        self.assertIn("'nolabel'", ctx.exception.body)
        with self.assertRaises(ApiError) as missing:
            api.get("/v1/volumes/nowhere")
        self.assertEqual(missing.exception.status, 404)
        # Spreading by a label every node has the same value of cannot place two replicas.
        api.post("/v1/resource-groups", {"name": "by-rack", "replicas": 2, "replicas_on_different": ["rack"]})
        with self.assertRaises(ApiError) as rack:
            api.post("/v1/volumes", {"name": "rackless", "size_bytes": 4 * MiB, "resource_group": "by-rack"})
        self.assertEqual(rack.exception.code, "not_enough_nodes")


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs for the pool needs root")
class OverprovisionTest(ClusterTestCase):
    nodes = 0

    def setUp(self):
        self.start_node_on_tmpfs("small", "64m")

    def create(self, name, group, size):
        return self.cluster.api.post("/v1/volumes", {"name": name, "size_bytes": size, "resource_group": group})

    def test_thin_pool_is_promised_at_most_overprovision_times_its_size(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "strict", "replicas": 1, "overprovision": 1})
        api.post("/v1/resource-groups", {"name": "double", "replicas": 1, "overprovision": 2})
        self.assertEqual(api.get("/v1/resource-groups/strict")["overprovision"], 1)
        # Back to back, before any heartbeat could report the first: the second must still count it.
        self.create("first", "strict", 40 * MiB)
        with self.assertRaises(ApiError) as ctx:
            self.create("second", "strict", 40 * MiB)
        self.assertEqual((ctx.exception.status, ctx.exception.code), (422, "not_enough_nodes"))
        self.assertIn("overprovision limit of 1x", ctx.exception.body)
        # A group allowed to promise twice the pool takes it: 40 + 40 <= 2 × 64 MiB.
        self.create("second", "double", 40 * MiB)
        with self.assertRaises(ApiError):
            self.create("third", "double", 60 * MiB)   # 80 + 60 > 128 MiB
        # Once reported, the node's own figure carries the provisioned size.
        wait_for("pool reports 80 MiB provisioned", lambda: next(
            p for p in api.get("/v1/storage-pools")["storage_pools"] if p["node"] == "small")
            ["provisioned_bytes"] >= 80 * MiB, 30)
        with self.assertRaises(ApiError):
            self.create("third", "double", 60 * MiB)
        self.assertEqual(sorted(v["name"] for v in api.get("/v1/volumes")["volumes"]), ["first", "second"])
