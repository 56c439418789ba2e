"""The controller is killed with -9 and restarted on the same database and port: the declared state
is intact, the nodes keep their identity and tokens, and the volume keeps serving and replicating."""

from clusterfixture import ClusterTestCase, run, wait_for

MiB = 1 << 20


class ControllerRestartTest(ClusterTestCase):
    nodes = 2

    def test_kill_and_restart_controller(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "pair", "replicas": 2})
        created = api.post("/v1/volumes", {"name": "survivor", "size_bytes": 16 * MiB, "resource_group": "pair"})
        vol = self.cluster.wait_volume_state("survivor", "available", timeout=60)
        uri = vol["nbd_uri"]
        nodes_before = {n["name"]: n["uuid"] for n in api.get("/v1/nodes")["nodes"]}

        self.cluster.controller.kill9()
        # The data path does not need the controller.
        run("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 1M", "-c", "read -P 0x77 0 1M", uri)

        self.cluster.restart_controller()
        wait_for("both nodes online again", lambda: self.cluster.online_nodes() == 2, 30)
        self.assertEqual({n["name"]: n["uuid"] for n in api.get("/v1/nodes")["nodes"]}, nodes_before)
        vol = self.cluster.wait_volume_state("survivor", "available", timeout=60)
        self.assertEqual(vol["uuid"], created["uuid"])
        self.assertEqual(vol["nbd_uri"], uri)
        # Changes made after the restart still reach the nodes (the long-polls reconnected).
        api.post("/v1/volumes", {"name": "after-restart", "size_bytes": 4 * MiB, "resource_group": "pair"})
        self.cluster.wait_volume_state("after-restart", "available", timeout=60)
