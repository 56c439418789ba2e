"""Nodes with several storage pools: every pool is reported with its provider and capacity, and a
resource group's `pools` list decides where replicas land."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class PoolsTest(ClusterTestCase):
    nodes = 0

    def test_group_pools_choose_where_replicas_land(self):
        for name in ("alpha", "beta"):
            base = self.cluster.node_dir(name)
            for pool in ("fast", "bulk"):
                os.makedirs(os.path.join(base, pool), exist_ok=True)
            self.cluster.start_node(name, [f"--pool=fast=file:{base}/fast", f"--pool=bulk=file:{base}/bulk"])
        wait_for("two nodes online", lambda: self.cluster.online_nodes() == 2, 30)
        api = self.cluster.api
        wait_for("four reported pools", lambda: sum(
            1 for p in api.get("/v1/storage-pools")["storage_pools"] if p["state"] == "online") == 4, 30)
        pools = {(p["node"], p["name"]): p for p in api.get("/v1/storage-pools")["storage_pools"]}
        self.assertEqual(set(pools), {(n, p) for n in ("alpha", "beta") for p in ("fast", "bulk")})
        self.assertTrue(all(p["provider"] == "file" and p["total_bytes"] > 0 for p in pools.values()))

        api.post("/v1/resource-groups", {"name": "bulk-only", "replicas": 2, "pools": ["bulk"]})
        vol = api.post("/v1/volumes", {"name": "archive", "size_bytes": 8 * MiB, "resource_group": "bulk-only"})
        self.assertEqual({r["pool"] for r in vol["replicas"]}, {"bulk"})
        self.cluster.wait_volume_state("archive", "available", timeout=60)
        for node in ("alpha", "beta"):
            bulk = os.listdir(os.path.join(self.cluster.node_dir(node), "bulk"))
            fast = os.listdir(os.path.join(self.cluster.node_dir(node), "fast"))
            self.assertTrue(any(f.startswith(vol["uuid"]) for f in bulk), bulk)
            self.assertFalse(any(f.startswith(vol["uuid"]) for f in fast), fast)
