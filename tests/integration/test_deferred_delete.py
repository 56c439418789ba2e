"""Deleting a volume while one of its nodes is down: the volume is gone for users at once, and the
node removes its replica when it comes back (deferred, never stuck)."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class DeferredDeleteTest(ClusterTestCase):
    nodes = 2

    def test_delete_while_a_node_is_down(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "pair", "replicas": 2})
        created = api.post("/v1/volumes", {"name": "doomed", "size_bytes": 8 * MiB, "resource_group": "pair"})
        vol = self.cluster.wait_volume_state("doomed", "available", timeout=60)
        secondary = next(r["node"] for r in vol["replicas"] if not r["primary"])
        leftover = self.cluster.backing_file(secondary, created["uuid"])

        self.cluster.nodes[secondary].kill9()
        status, _ = api.call("DELETE", "/v1/volumes/doomed")
        self.assertEqual(status, 204)
        self.assertEqual([v["name"] for v in api.get("/v1/volumes")["volumes"]], [])
        self.assertTrue(os.path.exists(leftover), "the dead node cannot have removed its replica yet")

        self.cluster.start_node(secondary)
        wait_for("the returning node to remove its replica", lambda: not os.path.exists(leftover), 30)
