"""A node whose status reports are refused is not taken for lost. Real processes: the controller's
internal body limit is set low (16 KiB) and one node's pool fills with leftover files that every
report lists (unmanaged volumes), so that node's reports no longer fit. The node logs the refusal
loudly and heartbeats with a liveness report that says why; the controller keeps it online, shows
`report_error` in GET /v1/nodes, and self-healing (after 2 s here) does not move its replica. When
the leftovers go, its reports are accepted again and the error clears."""

import os
import time

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20


class RefusedReportTest(ClusterTestCase):
    nodes = 3
    controller_args = ("--internal-body-limit=16384", "--replace-replicas-after=2s")

    def text(self, path):
        with open(path, errors="replace") as f:
            return f.read()

    def test_refused_reports_keep_the_node_online_and_its_replicas(self):
        api = self.cluster.api
        vol = self.available_volume("kept", 8 * MiB, replicas=2)
        holders = sorted(r["node"] for r in vol["replicas"])
        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        pool = self.cluster.pool_dir(victim)
        leftovers = []
        for i in range(400):  # about 130 bytes each in every report: ~50 KiB
            path = os.path.join(pool, f"leftover-{i:04d}.img")
            with open(path, "wb") as f:
                f.truncate(4096)
            leftovers.append(path)

        wait_for(f"{victim} to show its refused reports",
                 lambda: "report_error" in api.get(f"/v1/nodes/{victim}"), 30)
        node = api.get(f"/v1/nodes/{victim}")
        self.assertIn("413", node["report_error"])
        self.assertEqual(node["state"], "online")
        # Longer than the heartbeat timeout (3 s) plus --replace-replicas-after (2 s): the node stays
        # online and keeps its replica (without liveness heartbeats it would be offline by now).
        end = time.monotonic() + 8
        while time.monotonic() < end:
            node = api.get(f"/v1/nodes/{victim}")
            self.assertEqual(node["state"], "online", node)
            self.assertIn("report_error", node)
            self.assertEqual(sorted(r["node"] for r in self.cluster.volume("kept")["replicas"]), holders)
            time.sleep(0.5)
        self.assertIn("STATUS REPORT REFUSED", self.text(self.cluster.nodes[victim].log_path))
        self.assertIn(f"node {victim} is alive but its status reports are refused",
                      self.text(self.cluster.controller.log_path))

        for path in leftovers:
            os.remove(path)
        wait_for(f"{victim}'s reports to be accepted again",
                 lambda: "report_error" not in api.get(f"/v1/nodes/{victim}"), 30)
        self.assertEqual(self.cluster.wait_volume_state("kept", "available", timeout=60)["name"], "kept")
