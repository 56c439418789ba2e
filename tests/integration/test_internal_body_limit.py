"""The internal node routes have their own body limit (`--internal-body-limit`), sized for the
cluster rather than the public API's 1 MiB: a node reporting more replicas than fit in 1 MiB
stays online. A report over the internal limit is refused (413) and logged loudly on both sides:
by the controller (the request line) and by a real node worker (STATUS REPORT REFUSED)."""

import json
import uuid as uuidlib

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20
POOL = {"name": "p", "provider": "file", "thin": True, "snapshots": False,
        "total_bytes": 1 << 40, "free_bytes": 1 << 40, "provisioned_bytes": 0}


def report_of(replicas):
    reps = [{"volume_uuid": str(uuidlib.UUID(int=i + 1)), "disk": "up_to_date", "primary": False,
             "generation": "g" * 32} for i in range(replicas)]
    return {"applied_generation": 0, "pools": [POOL], "replicas": reps}


class InternalBodyLimitTest(ClusterTestCase):
    nodes = 0
    controller_args = ("--internal-body-limit=8388608",)  # 8 MiB

    def register(self, name):
        reply = self.cluster.api.post("/v1/nodes", {"name": name, "address": "127.0.0.1", "nbd_port": 10809,
                                                    "replication_port": 7789, "pools": [POOL]})
        return reply["token"]

    def controller_log(self):
        with open(self.cluster.controller.log_path, errors="replace") as f:
            return f.read()

    def test_report_larger_than_the_public_limit_is_accepted(self):
        token = self.register("big-node")
        body = report_of(12000)
        size = len(json.dumps(body))
        self.assertGreater(size, MiB, "the report must not fit the public limit")
        status, _ = self.cluster.api.call("PUT", "/v1/internal/nodes/big-node/status", body, token=token)
        self.assertEqual(status, 204)
        self.assertEqual(self.cluster.api.get("/v1/nodes/big-node")["state"], "online")
        # The public routes keep their 1 MiB limit.
        with self.assertRaises(ApiError) as public:
            self.cluster.api.call("POST", "/v1/volumes", raw=b"{" + b" " * (2 * MiB) + b"}")
        self.assertEqual((public.exception.status, public.exception.code), (413, "body_too_large"))

    def test_report_over_the_internal_limit_is_refused_and_logged(self):
        token = self.register("huge-node")
        body = report_of(60000)
        self.assertGreater(len(json.dumps(body)), 8 * MiB)
        with self.assertRaises(ApiError) as refused:
            self.cluster.api.call("PUT", "/v1/internal/nodes/huge-node/status", body, token=token)
        self.assertEqual((refused.exception.status, refused.exception.code), (413, "body_too_large"))
        wait_for("the controller to log the refused report",
                 lambda: "refused PUT /v1/internal/nodes/huge-node/status" in self.controller_log(), 10)


class RefusedReportIsLoudOnTheNodeTest(ClusterTestCase):
    """A real node worker whose every report is over the internal limit (set absurdly low)."""
    nodes = 0
    controller_args = ("--internal-body-limit=64",)

    def test_node_and_controller_log_the_refused_report(self):
        self.cluster.start_node("small-limit")

        def text(path):
            with open(path, errors="replace") as f:
                return f.read()

        def both_logged():
            controller = text(self.cluster.controller.log_path)
            node = text(self.cluster.nodes["small-limit"].log_path)
            return ("refused PUT /v1/internal/nodes/small-limit/status" in controller and
                    "STATUS REPORT REFUSED" in node and "internal-body-limit" in node)

        wait_for("both sides to log the refused report", both_logged, 60)
