"""A 3-replica volume end to end: REST create, qemu-io over NBD, identical backing files,
kill -9 of a secondary while writing, restart, resync, and every acknowledged write intact."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class ReplicatedVolumeTest(ClusterTestCase):
    def test_write_kill_restart_resync(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        created = api.post("/v1/volumes", {"name": "vol1", "size_bytes": 64 * MiB, "resource_group": "triple"})
        self.assertEqual(len({r["node"] for r in created["replicas"]}), 3, "replicas on three distinct nodes")
        vol = self.cluster.wait_volume_state("vol1", "available", timeout=60)
        uri = vol["nbd_uri"]
        self.assertTrue(uri.startswith("nbd://127.0.0.1:"), uri)

        # Patterns written with FUA (cache=none → qemu sends FUA) and with writeback + flush.
        self.qemu_io(uri, "write -P 0xa1 0 4M", "write -P 0xa2 8M 1M", cache="none")
        self.qemu_io(uri, "write -P 0xa3 16M 2M", "flush", cache="writeback")
        self.qemu_io(uri, "write -z 20M 1M", "read -P 0xa1 0 4M", "read -P 0xa2 8M 1M", "read -P 0xa3 16M 2M",
                     cache="writeback")
        self.assert_replicas_identical(self.cluster.volume("vol1"))

        # kill -9 a node that is not the primary; the volume degrades but keeps taking writes.
        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        self.cluster.nodes[victim].kill9()
        wait_for(f"{victim} offline", lambda: self.cluster.node_state(victim) == "offline", 30)
        self.assertEqual(self.cluster.volume("vol1")["state"], "degraded")
        self.qemu_io(uri, "write -P 0xb1 2M 4M", "write -P 0xb2 40M 8M", "flush", cache="writeback")
        self.qemu_io(uri, "write -P 0xb3 63M 1M", cache="none")

        # Restart it: it re-registers with the same identity, resyncs, and the volume recovers.
        uuid_before = self.cluster.api.get(f"/v1/nodes/{victim}")["uuid"]
        self.cluster.start_node(victim)
        wait_for(f"{victim} online", lambda: self.cluster.node_state(victim) == "online", 30)
        self.assertEqual(self.cluster.api.get(f"/v1/nodes/{victim}")["uuid"], uuid_before)
        # Writes during the resync must land too.
        self.qemu_io(uri, "write -P 0xc1 30M 1M", cache="none")
        vol = self.cluster.wait_volume_state("vol1", "available", timeout=120)
        self.qemu_io(uri,
                     "read -P 0xa1 0 2M", "read -P 0xb1 2M 4M", "read -P 0xa2 8M 1M", "read -P 0xa3 16M 2M",
                     "read -P 0x00 20M 1M", "read -P 0xc1 30M 1M", "read -P 0xb2 40M 8M", "read -P 0xb3 63M 1M",
                     cache="writeback")
        self.assert_replicas_identical(vol)

    def test_delete_removes_every_replica(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "pair", "replicas": 2})
        created = api.post("/v1/volumes", {"name": "short-lived", "size_bytes": 8 * MiB, "resource_group": "pair"})
        vol = self.cluster.wait_volume_state("short-lived", "available", timeout=60)
        files = [self.cluster.backing_file(r["node"], created["uuid"]) for r in vol["replicas"]]
        self.assertTrue(all(os.path.exists(f) for f in files))
        status, _ = api.call("DELETE", "/v1/volumes/short-lived")
        self.assertEqual(status, 204)
        wait_for("backing files removed", lambda: not any(os.path.exists(f) for f in files), 30)
