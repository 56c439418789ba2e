"""Delta status reports through the real controller (simulated node, real internal API): after a
full report of 3000 replicas is acknowledged, a report of one change is a small delta and the
controller's views follow it; a delta the controller cannot place (its base unknown: after a
controller restart) keeps the node online and is answered send_full, and the full report then
restores every volume's state. An old node's report (no report_seq) is still answered 204. Real
node workers report deltas in every other integration test (test_controller_restart restarts the
controller under them)."""

import json
import uuid as uuidlib

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20
POOL = {"name": "p", "provider": "file", "thin": True, "snapshots": False,
        "total_bytes": 1 << 50, "free_bytes": 1 << 50, "provisioned_bytes": 0}


def replica(uuid, disk="up_to_date"):
    return {"volume_uuid": uuid, "disk": disk, "primary": True, "generation": "g" * 32, "peers": []}


class DeltaReportTest(ClusterTestCase):
    nodes = 0
    controller_args = ("--heartbeat-timeout=1h",)

    def register(self):
        reply = self.cluster.api.post("/v1/nodes", {"name": "sim", "address": "127.0.0.1", "nbd_port": 10809,
                                                    "replication_port": 7789, "pools": [POOL]})
        return reply["token"]

    def put(self, body, token):
        return self.cluster.api.call("PUT", "/v1/internal/nodes/sim/status", body, token=token)

    def test_deltas_are_small_and_survive_a_controller_restart(self):
        api = self.cluster.api
        token = self.register()
        api.post("/v1/resource-groups", {"name": "one", "replicas": 1})
        uuids = {}
        for i in range(20):
            v = api.post("/v1/volumes", {"name": f"v{i:02d}", "size_bytes": MiB, "resource_group": "one"})
            uuids[v["name"]] = v["uuid"]
        # 20 real volumes plus 2980 replicas of volumes the controller does not know (still reported).
        others = [str(uuidlib.UUID(int=i + 1)) for i in range(2980)]
        full = {"report_seq": 1, "applied_generation": 0, "pools": [POOL],
                "replicas": [replica(u) for u in list(uuids.values()) + others]}
        status, ack = self.put(full, token)
        self.assertEqual((status, ack), (200, {"acknowledged": 1, "send_full": False}))
        self.assertEqual(api.get("/v1/volumes/v03")["state"], "available")

        delta = {"report_seq": 2, "base_seq": 1, "removed_replicas": [uuids["v05"]], "applied_generation": 0,
                 "pools": [POOL], "replicas": [replica(uuids["v03"], "outdated")]}
        self.assertLess(len(json.dumps(delta)) * 100, len(json.dumps(full)), "a delta is small")
        status, ack = self.put(delta, token)
        self.assertEqual((status, ack), (200, {"acknowledged": 2, "send_full": False}))
        self.assertEqual(api.get("/v1/volumes/v03")["state"], "degraded")
        self.assertEqual(api.get("/v1/volumes/v05")["state"], "creating", "its replica is no longer reported")
        self.assertEqual(api.get("/v1/volumes/v04")["state"], "available", "unchanged replicas stay")

        # A delta against a report the controller did not acknowledge last: a full one is asked for.
        stale = dict(delta, report_seq=3, base_seq=1, replicas=[], removed_replicas=[])
        status, ack = self.put(stale, token)
        self.assertEqual((status, ack), (200, {"acknowledged": 0, "send_full": True}))

        self.cluster.restart_controller()
        api = self.cluster.api
        after = dict(delta, report_seq=4, base_seq=2, replicas=[], removed_replicas=[])
        status, ack = self.put(after, token)
        self.assertEqual((status, ack), (200, {"acknowledged": 0, "send_full": True}),
                         "a restarted controller holds no base")
        self.assertEqual(api.get("/v1/nodes/sim")["state"], "online", "the delta still counts as a heartbeat")
        self.assertEqual(api.get("/v1/volumes/v04")["state"], "creating", "nothing applied from it")
        full2 = dict(full, report_seq=5)
        full2["replicas"] = [replica(u, "outdated" if u == uuids["v03"] else "up_to_date")
                             for u in uuids.values() if u != uuids["v05"]] + [replica(u) for u in others]
        status, ack = self.put(full2, token)
        self.assertEqual((status, ack), (200, {"acknowledged": 5, "send_full": False}))
        states = {name: api.get(f"/v1/volumes/{name}")["state"] for name in ("v03", "v04", "v05")}
        self.assertEqual(states, {"v03": "degraded", "v04": "available", "v05": "creating"})

        # An old node's full report (no report_seq): 204, no acknowledgement.
        old = {"applied_generation": 0, "pools": [POOL], "replicas": [replica(u) for u in uuids.values()]}
        status, body = self.put(old, token)
        self.assertEqual((status, body), (204, None))
        wait_for("v05 available from the old-style report", lambda: api.get("/v1/volumes/v05")["state"] == "available", 5)
