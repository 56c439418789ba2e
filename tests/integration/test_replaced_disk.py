"""A replaced disk is not trusted (issue 8, hole 1), with real processes: the whole cluster is
stopped cleanly, one secondary's backing file is deleted (its disk was replaced), and the cluster
is started again. The node re-creates an empty backing file but keeps its old replica metadata;
that copy must not be called up to date at its old generation: the engine marks it Inconsistent
and the primary fully resyncs it. Afterwards every write reads back and the replicas are
byte-identical. Without the device binding the empty file was trusted and the copies differed."""

import os

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class ReplacedDiskTest(ClusterTestCase):
    def log_since(self, name, marker):
        with open(self.cluster.nodes[name].log_path, errors="replace") as f:
            return f.read().split(marker)[-1]

    def test_recreated_backing_file_is_fully_resynced(self):
        vol = self.available_volume("rd", 32 * MiB)
        self.qemu_io(vol["nbd_uri"], "write -P 0x51 0 8M", "write -P 0x52 16M 8M")
        primary = vol["primary_node"]
        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        victim_file = self.cluster.backing_file(victim, vol["uuid"])

        for p in self.cluster.nodes.values():
            p.stop()
        self.cluster.controller.stop()
        os.unlink(victim_file)  # the disk was replaced: the data is gone, the metadata is not
        marker = "---- whole cluster restarted\n"
        for name in self.cluster.nodes:
            with open(self.cluster.nodes[name].log_path, "a") as f:
                f.write(marker)
        self.cluster.restart_controller()
        for name in self.cluster.nodes:
            self.cluster.start_node(name)

        wait_for(f"{victim} to report its re-created device",
                 lambda: "backing device re-created, copy Inconsistent" in self.log_since(victim, marker), 60)
        wait_for(f"the full sync of {victim}", lambda: f"sync to {victim} done" in self.log_since(primary, marker), 120)
        vol = self.cluster.wait_volume_state("rd", "available", timeout=120)
        self.assertEqual(vol["primary_node"], primary)
        self.assertIn(f"full sync to {victim}", self.log_since(primary, marker))
        self.qemu_io(vol["nbd_uri"], "read -P 0x51 0 8M", "read -P 0 8M 8M", "read -P 0x52 16M 8M")
        self.assert_replicas_identical(vol)
