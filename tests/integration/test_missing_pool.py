"""A node restarted without the pool that holds one of its replicas: the replica is reported as an
error with the reason (the volume is degraded, not silently fine), and the node retries at a
gentle pace instead of hammering the controller."""

import os
import re
import time

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class MissingPoolTest(ClusterTestCase):
    nodes = 0

    def test_replica_in_a_vanished_pool_is_an_error(self):
        base = self.cluster.node_dir("solo")
        os.makedirs(os.path.join(base, "fast"), exist_ok=True)
        self.cluster.start_node("solo", [f"--pool=fast=file:{base}/fast"])
        wait_for("solo online", lambda: self.cluster.online_nodes() == 1, 30)
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "single", "replicas": 1})
        api.post("/v1/volumes", {"name": "stranded", "size_bytes": 4 * MiB, "resource_group": "single"})
        self.cluster.wait_volume_state("stranded", "available", timeout=60)

        # Restart the node without its "fast" pool.
        node = self.cluster.nodes["solo"]
        node.stop()
        node.argv = [a for a in node.argv if not a.startswith("--pool=")]
        with open(node.log_path, "a") as f:
            f.write("---- restart without pool fast\n")
        node.start()
        vol = wait_for("the replica reported as an error", lambda: (lambda v: v if v["state"] == "degraded" and any(
            r["state"] == "error" for r in v["replicas"]) else None)(self.cluster.volume("stranded")), 30)
        reason = vol["replicas"][0]["reason"]
        self.assertIn("pool 'fast' is not configured", reason)

        # Retries are paced (one every ~2 s), not a busy loop.
        def failures():
            with open(node.log_path, errors="replace") as f:
                text = f.read().split("---- restart without pool fast")[-1]
            return len(re.findall(r"pool 'fast' is not configured", text))
        before = failures()
        wait_for("a few seconds of retries", lambda: failures() >= before + 2, 15)
        start_count, t0 = failures(), time.monotonic()
        time.sleep(4)
        rate = (failures() - start_count) / (time.monotonic() - t0)
        self.assertLess(rate, 3, f"{rate:.1f} failed applies per second: the retry is not backing off")
