"""A node worker that comes back to a controller of another cluster (its database was lost or
reset) keeps its identity on disk and deletes nothing: the new controller's empty desired state is
ignored, so the replica's data survives for an operator to recover."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class ForeignControllerTest(ClusterTestCase):
    nodes = 1

    def test_reset_controller_cannot_wipe_a_node(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "single", "replicas": 1})
        vol = api.post("/v1/volumes", {"name": "precious", "size_bytes": 4 * MiB, "resource_group": "single"})
        self.cluster.wait_volume_state("precious", "available", timeout=60)
        backing = self.cluster.backing_file("node1", vol["uuid"])

        # The controller loses its database: a new cluster with no volumes.
        self.cluster.controller.stop()
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(self.cluster.root, "controller.db" + suffix)
            if os.path.exists(path):
                os.unlink(path)
        self.cluster.restart_controller()
        self.cluster.nodes["node1"].stop()
        self.cluster.start_node("node1")
        wait_for("node1 registered with the new controller", lambda: self.cluster.online_nodes() == 1, 30)
        log = self.cluster.nodes["node1"].log_path

        def refused():
            with open(log, errors="replace") as f:
                return "but this node belongs to" in f.read()
        wait_for("the node to refuse the foreign desired state", refused, 30)
        self.assertTrue(os.path.exists(backing), "the replica must survive a reset controller")
        self.assertEqual(api.get("/v1/volumes")["volumes"], [])
