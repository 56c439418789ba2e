"""docs/openapi.yaml against a real controller: every documented operation, its documented
statuses and body shapes, the Error shape of invalid input, and no documented path the server
does not route (nor an implemented one the spec leaves out)."""

import glob
import json
import os
import re
import ssl
import time
import urllib.error
import urllib.request
import unittest
import uuid as uuidlib

import openapi_check as oc
from clusterfixture import ClusterTestCase

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# Routes of API.md the spec lists as "planned" in info.description: they must not be routed yet.
PLANNED = [
    ("GET", "/v1/events"),
    ("GET", "/v1/resource-groups/og-group/stats"),
    ("POST", "/v1/volumes/og-vol/verify"),
]


def effective_security(spec, op):
    return op.get("security", spec.get("security", []))


class Reply:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        json_body = (headers.get("Content-Type") or "application/json").startswith("application/json")
        self.body = (json.loads(raw) if json_body else raw) if raw else None

    def __repr__(self):
        return f"HTTP {self.status} {self.raw[:300]!r}"


class SpecTest(unittest.TestCase):
    """The spec file itself and the validator (no cluster needed)."""

    def test_spec_is_openapi_303_with_resolvable_references(self):
        # The file parses, declares OpenAPI 3.0.3, and every $ref points at something.
        spec = oc.load_spec()
        self.assertEqual(spec["openapi"], "3.0.3")
        self.assertEqual(oc.dangling_references(spec), [])

    def test_spec_uses_only_schema_keywords_the_validator_checks(self):
        # No schema relies on a keyword openapi_check would silently ignore.
        self.assertEqual(oc.unsupported_keywords(), [])

    def test_every_operation_documents_its_generic_errors(self):
        # Secured operations document 401; operations with a body document 400 and 413.
        spec = oc.load_spec()
        for path, method, op in oc.operations(spec):
            where = f"{method.upper()} {path}"
            self.assertTrue(op.get("responses"), where)
            if effective_security(spec, op):
                self.assertIn("401", op["responses"], where)
            if "requestBody" in op:
                self.assertIn("400", op["responses"], where)
                self.assertIn("413", op["responses"], where)

    def test_error_code_enum_lists_every_reason_the_code_emits(self):
        # Every withReason("...") / transport error code in the C++ sources is in Error.code's enum.
        enum = set(oc.schema_for("Error")["properties"]["error"]["properties"]["code"]["enum"])
        emitted = set()
        sources = []
        for part in ("backend-server", "common"):
            sources += glob.glob(os.path.join(REPO, part, "**", "*.cc"), recursive=True)
        self.assertTrue(sources, "no C++ sources found")
        for path in sources:
            with open(path, errors="replace") as f:
                text = f.read()
            emitted.update(re.findall(r'withReason\("([a-z_]+)"\)', text))
            emitted.update(re.findall(r'sendTransportError\(\s*\d+,\s*"([a-z_]+)"', text))
            emitted.update(re.findall(r'jsonErrorBody\(\s*"([a-z_]+)"', text))
        self.assertIn("volume_not_found", emitted, "the source scan found nothing")
        self.assertEqual(sorted(emitted - enum), [], "error codes missing from the spec's Error.code enum")

    def test_validator_rejects_what_the_schemas_forbid(self):
        # The validator catches wrong types, missing fields, bad patterns, extra fields, oneOf.
        self.assertEqual(oc.errors("Health", {"status": "ok"}), [])
        self.assertTrue(oc.errors("Health", {"status": "bad"}))
        self.assertTrue(oc.errors("Health", {}))
        self.assertTrue(oc.errors("Health", {"status": "ok", "extra": 1}))
        self.assertTrue(oc.errors("Port", True))
        self.assertTrue(oc.errors("Port", 0))
        self.assertTrue(oc.errors("Name", "-x"))
        self.assertTrue(oc.errors("Name", "x" * 65))
        good = {"name": "v", "size_bytes": 1024, "resource_group": "g"}
        self.assertEqual(oc.errors("CreateVolumeRequest", good), [])
        self.assertTrue(oc.errors("CreateVolumeRequest", dict(good, size_gib=1)))
        self.assertTrue(oc.errors("CreateVolumeRequest", {"name": "v", "resource_group": "g"}))
        self.assertTrue(oc.errors("CreateVolumeRequest", dict(good, size_bytes=1000)))
        self.assertTrue(oc.errors("NodeList", {"nodes": [{"name": "n"}]}))
        with self.assertRaises(oc.ValidationError):
            oc.validate("Error", {"error": {"code": "no_such_code", "message": "m", "details": {}}})


class OpenApiConformanceTest(ClusterTestCase):
    nodes = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec = oc.load_spec()
        cls.ssl_context = ssl.create_default_context(cafile=cls.cluster.ca)

    # -- plumbing
    def request(self, method, target, body=None, raw=None, token=None, timeout=30):
        """One HTTPS request; never raises for an HTTP status. token=None: admin, "": none."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.cluster.url + target, data=data, method=method)
        tok = self.cluster.token if token is None else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context, timeout=timeout) as resp:
                return Reply(resp.status, resp.headers, resp.read().decode())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read().decode())

    def call(self, method, template, params=None, query="", body=None, raw=None, token=None, expect=None):
        """Calls the operation `method template` (a spec path) and checks the reply against the spec.

        Checks: the status is `expect` (when given) and documented for the operation, the body
        matches that status's schema, JSON bodies say application/json, 204 has no body. A JSON
        request body that should succeed must also match the spec's request schema.
        """
        target = template
        for name, value in (params or {}).items():
            target = target.replace("{" + name + "}", value)
        reply = self.request(method, target + query, body=body, raw=raw, token=token)
        self.exercised.add((template, method.lower()))
        where = f"{method} {target}{query}"
        if expect is not None:
            self.assertEqual(reply.status, expect, f"{where}: {reply!r}")
        try:
            oc.validate_response(template, method, reply.status, reply.body, self.spec)
        except (KeyError, oc.ValidationError) as e:
            self.fail(f"{where}: {e}\n{reply!r}")
        if reply.raw:
            # The content type is the one the spec documents for this response.
            documented = oc.response_spec(template, method, reply.status, self.spec).get("content", {})
            media = (reply.headers.get("Content-Type") or "").split(";")[0].strip()
            self.assertIn(media, documented, where)
        if reply.status == 204:
            self.assertIsNone(reply.headers.get("Content-Type"), f"{where}: 204 without a body")
        if reply.status < 300 and body is not None:
            schema = oc.request_schema(template, method, self.spec)
            self.assertEqual(oc.errors(schema, body, self.spec), [], f"{where}: a body the server accepts")
        return reply

    def expect_error(self, method, template, status, code, params=None, query="", body=None, raw=None,
                     token=None, schema_rejects_body=None):
        """An invalid call: documented status + Error body with `code`; optionally the spec's
        request schema agrees (schema_rejects_body=True) or disagrees (False) that the body is bad."""
        reply = self.call(method, template, params, query, body, raw, token, expect=status)
        self.assertEqual(reply.body["error"]["code"], code, repr(reply))
        if status == 401:
            self.assertEqual(reply.headers.get("WWW-Authenticate"), "Bearer")
        if schema_rejects_body is not None:
            found = oc.errors(oc.request_schema(template, method, self.spec), body, self.spec)
            if schema_rejects_body:
                self.assertTrue(found, f"the spec accepts {body!r}, the server rejects it with {code}")
            else:
                self.assertEqual(found, [], f"the spec rejects {body!r}, the server answers {code}")
        return reply

    def setUp(self):
        self.exercised = set()

    def register_fake_node(self, name):
        """Registers a node with no worker behind it and one pool without free space."""
        body = {"name": name, "address": "127.0.0.1", "nbd_port": 10809, "replication_port": 7789,
                "pools": [{"name": "tiny", "provider": "file", "thin": True, "snapshots": False,
                           "total_bytes": 1 << 20, "free_bytes": 0, "provisioned_bytes": 0}]}
        reply = self.call("POST", "/v1/nodes", body=body, expect=201)
        return body, reply.body

    # -- tests
    def test_every_documented_operation_answers_its_documented_shapes(self):
        # Valid calls of every (path, method) in the spec answer a documented status and body.
        c = self.call
        v = c("GET", "/v1/version", token="", expect=200).body
        self.assertEqual(v["api_version"], "v1")
        c("GET", "/v1/health", token="", expect=200)
        metrics = c("GET", "/metrics", expect=200)
        self.assertTrue(metrics.headers["Content-Type"].startswith("text/plain"), metrics.headers["Content-Type"])
        self.assertIn('tandem_nodes{state="online"}', metrics.body)

        nodes = c("GET", "/v1/nodes", expect=200).body["nodes"]
        self.assertGreaterEqual(len([n for n in nodes if n["state"] == "online"]), 2)
        c("GET", "/v1/nodes/{node}", {"node": "node1"}, expect=200)

        body, ghost = self.register_fake_node("og-ghost")
        self.assertEqual(ghost["node"]["name"], "og-ghost")
        again = c("POST", "/v1/nodes", body=dict(body, uuid=ghost["node"]["uuid"]), expect=200).body
        self.assertNotEqual(again["token"], ghost["token"], "re-registration issues a new token")
        ghost_token = again["token"]

        pools = c("GET", "/v1/storage-pools", expect=200).body["storage_pools"]
        self.assertIn(("og-ghost", "tiny"), [(p["node"], p["name"]) for p in pools])

        group = {"name": "og-pair", "replicas": 2}
        created = c("POST", "/v1/resource-groups", body=group, expect=201).body
        self.assertEqual(c("POST", "/v1/resource-groups", body=group, expect=200).body["uuid"], created["uuid"])
        c("GET", "/v1/resource-groups", expect=200)
        c("GET", "/v1/resource-groups/{group}", {"group": "og-pair"}, expect=200)

        vol = {"name": "og-v1", "size_bytes": 1 << 20, "resource_group": "og-pair"}
        made = c("POST", "/v1/volumes", body=vol, expect=201).body
        self.assertEqual(made["state"], "creating")
        self.assertEqual(c("POST", "/v1/volumes", body=vol, expect=200).body["uuid"], made["uuid"])
        self.assertEqual(sorted(r["node"] for r in made["replicas"]), ["node1", "node2"])
        plan = c("POST", "/v1/volumes", body=dict(vol, name="og-plan"), query="?dry_run=true", expect=200).body
        self.assertTrue(plan["dry_run"])
        self.assertEqual(len(plan["replicas"]), 2)
        self.expect_error("GET", "/v1/volumes/{volume}", 404, "volume_not_found", {"volume": "og-plan"})
        self.expect_error("POST", "/v1/volumes", 409, "volume_exists", query="?dry_run=true", body=vol)
        c("GET", "/v1/volumes", expect=200)
        c("GET", "/v1/volumes/{volume}", {"volume": "og-v1"}, expect=200)
        # Pages: the cursor walks every volume once, in name order.
        c("POST", "/v1/volumes", body=dict(vol, name="og-v2"), expect=201)
        first = c("GET", "/v1/volumes", query="?limit=1", expect=200).body
        self.assertEqual([v["name"] for v in first["volumes"]], ["og-v1"])
        second = c("GET", "/v1/volumes", query=f"?limit=1&after={first['next']}", expect=200).body
        self.assertEqual([v["name"] for v in second["volumes"]], ["og-v2"])
        last = c("GET", "/v1/volumes", query="?limit=5&after=og-v2", expect=200).body
        self.assertEqual((last["volumes"], "next" in last), ([], False))
        for bad in ("?limit=0", "?limit=1001", "?limit=x", "?after=..%2F"):
            self.expect_error("GET", "/v1/volumes", 422, "invalid_query", query=bad)
        c("DELETE", "/v1/volumes/{volume}", {"volume": "og-v2"}, expect=204)

        desired = "/v1/internal/nodes/{node}/desired"
        state = c("GET", desired, {"node": "og-ghost"}, token=ghost_token, expect=200).body
        self.assertEqual(state["replicas"], [])
        mine = c("GET", desired, {"node": "node1"}, query="?after=0&wait=0", expect=200).body
        self.assertIn("og-v1", [r["volume"]["name"] for r in mine["replicas"]])
        # A long-poll with nothing new answers after about `wait` seconds with the same generation.
        started = time.monotonic()
        polled = c("GET", desired, {"node": "og-ghost"}, query=f"?after={state['generation']}&wait=1",
                   token=ghost_token, expect=200).body
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        self.assertEqual(polled["generation"], state["generation"])

        report = {"applied_generation": state["generation"], "pools": body["pools"], "replicas": []}
        c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, body=report, token=ghost_token,
          expect=204)
        self.assertEqual(c("GET", "/v1/nodes/{node}", {"node": "og-ghost"}, expect=200).body["state"], "online")
        # Numbered reports are acknowledged; a delta against an unknown base asks for a full one;
        # a liveness heartbeat shows the node's report_error.
        ack = c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, token=ghost_token, expect=200,
                body=dict(report, report_seq=7)).body
        self.assertEqual(ack, {"acknowledged": 7, "send_full": False})
        ack = c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, token=ghost_token, expect=200,
                body=dict(report, report_seq=8, base_seq=7, removed_replicas=[])).body
        self.assertEqual(ack, {"acknowledged": 8, "send_full": False})
        ack = c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, token=ghost_token, expect=200,
                body=dict(report, report_seq=9, base_seq=3, removed_replicas=[])).body
        self.assertEqual(ack, {"acknowledged": 0, "send_full": True})
        c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, token=ghost_token, expect=200,
          body={"report_seq": 10, "liveness_only": True, "report_error": "HTTP 413: too large"})
        self.assertEqual(c("GET", "/v1/nodes/{node}", {"node": "og-ghost"}, expect=200).body["report_error"],
                         "HTTP 413: too large")
        c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, body=report, token=ghost_token,
          expect=204)
        self.assertNotIn("report_error", c("GET", "/v1/nodes/{node}", {"node": "og-ghost"}, expect=200).body)
        # Evacuating a node that holds nothing: done at once; cancelling clears it.
        evacuating = c("POST", "/v1/nodes/{node}/evacuate", {"node": "og-ghost"}, expect=202).body
        self.assertTrue(evacuating["evacuating"])
        self.assertEqual(evacuating["evacuation"]["replicas_left"], 0)
        cancelled = c("DELETE", "/v1/nodes/{node}/evacuate", {"node": "og-ghost"}, expect=200).body
        self.assertFalse(cancelled["evacuating"])
        self.assertNotIn("evacuation", cancelled)

        self.expect_error("DELETE", "/v1/resource-groups/{group}", 409, "resource_group_in_use",
                          {"group": "og-pair"})
        v1 = c("GET", "/v1/volumes/{volume}", {"volume": "og-v1"}, expect=200).body
        c("POST", "/v1/volumes/{volume}/promote", {"volume": "og-v1"}, body={"node": v1["primary_node"]}, expect=200)
        secondary = next(r["node"] for r in v1["replicas"] if not r["primary"])
        self.expect_error("POST", "/v1/volumes/{volume}/promote", 409, "primary_online", {"volume": "og-v1"},
                          body={"node": secondary})
        self.expect_error("POST", "/v1/volumes/{volume}/promote", 422, "replica_not_found", {"volume": "og-v1"},
                          body={"node": "og-ghost"})
        self.expect_error("POST", "/v1/volumes/{volume}/promote", 404, "volume_not_found", {"volume": "og-nope"},
                          body={"node": secondary})
        self.expect_error("POST", "/v1/volumes/{volume}/promote", 400, "missing_field", {"volume": "og-v1"},
                          body={"force": True}, schema_rejects_body=True)
        self.expect_error("POST", "/v1/volumes/{volume}/resolve", 409, "not_split_brain", {"volume": "og-v1"},
                          body={"keep": secondary})
        self.expect_error("POST", "/v1/volumes/{volume}/resolve", 422, "replica_not_found", {"volume": "og-v1"},
                          body={"keep": "og-ghost"})
        self.expect_error("POST", "/v1/volumes/{volume}/resolve", 404, "volume_not_found", {"volume": "og-nope"},
                          body={"keep": secondary})
        self.expect_error("POST", "/v1/volumes/{volume}/resolve", 400, "missing_field", {"volume": "og-v1"},
                          body={}, schema_rejects_body=True)
        grown = c("PATCH", "/v1/volumes/{volume}", {"volume": "og-v1"}, body={"size_bytes": 2 << 20}, expect=200)
        self.assertEqual(grown.body["size_bytes"], 2 << 20)
        self.expect_error("PATCH", "/v1/volumes/{volume}", 422, "volume_shrink", {"volume": "og-v1"},
                          body={"size_bytes": 1 << 20})
        snap = c("POST", "/v1/volumes/{volume}/snapshots", {"volume": "og-v1"}, body={"name": "og-s1"},
                 expect=201).body
        self.assertEqual((snap["name"], snap["volume"]), ("og-s1", "og-v1"))
        c("GET", "/v1/volumes/{volume}/snapshots", {"volume": "og-v1"}, expect=200)
        c("GET", "/v1/volumes/{volume}/snapshots/{snapshot}", {"volume": "og-v1", "snapshot": "og-s1"}, expect=200)
        self.expect_error("DELETE", "/v1/volumes/{volume}", 409, "volume_has_snapshots", {"volume": "og-v1"})
        self.expect_error("POST", "/v1/volumes/{volume}/snapshots/{snapshot}/revert", 404, "snapshot_not_found",
                          {"volume": "og-v1", "snapshot": "og-nope"}, body={})
        c("DELETE", "/v1/volumes/{volume}/snapshots/{snapshot}", {"volume": "og-v1", "snapshot": "og-s1"},
          expect=204)
        # The volume's bytes, once every replica serves it: whole, a range, a write, the errors.
        deadline = time.monotonic() + 60
        while c("GET", "/v1/volumes/{volume}", {"volume": "og-v1"}, expect=200).body["state"] != "available":
            self.assertLess(time.monotonic(), deadline, "og-v1 never became available")
            time.sleep(0.2)
        data, v1p = "/v1/volumes/{volume}/data", {"volume": "og-v1"}
        self.assertEqual(len(c("GET", data, v1p, expect=200).raw), 2 << 20)
        written = c("PUT", data, v1p, raw=b"\x01" * (2 << 20), expect=200).body
        self.assertEqual((written["bytes_written"], written["size_bytes"]), (2 << 20, 2 << 20))
        self.expect_error("PUT", data, 400, "length_mismatch", v1p, raw=b"\x01" * 10)
        self.expect_error("PUT", data, 413, "body_exceeds_volume", v1p, raw=b"\x01" * ((2 << 20) + 1))
        self.expect_error("PUT", data, 404, "volume_not_found", {"volume": "og-nope"}, raw=b"\x01")
        self.expect_error("GET", data, 404, "volume_not_found", {"volume": "og-nope"})
        # Attachments (nbd mode: nothing to make on the host, so no device is involved here).
        attachments = "/v1/volumes/{volume}/attachments"
        one = {"volume": "og-v1", "host": "node1"}
        attach = {"host": "node1", "mode": "nbd", "connector": {"host": "node1", "multipath": False}}
        att = c("POST", attachments, {"volume": "og-v1"}, body=attach, expect=201).body
        self.assertEqual(att["connection_info"]["driver_volume_type"], "nbd")
        self.assertEqual(att["connector"], attach["connector"])
        self.assertEqual(c("POST", attachments, {"volume": "og-v1"}, body=attach, expect=200).body, att)
        listed = c("GET", attachments, {"volume": "og-v1"}, expect=200).body["attachments"]
        self.assertEqual([a["host"] for a in listed], ["node1"])
        self.assertEqual(c("GET", "/v1/volumes/{volume}", {"volume": "og-v1"}, expect=200).body["attached_hosts"],
                         ["node1"])
        self.expect_error("POST", attachments, 422, "node_not_found", {"volume": "og-v1"},
                          body={"host": "og-nowhere"})
        self.expect_error("POST", attachments, 409, "multiattach_not_allowed", {"volume": "og-v1"},
                          body={"host": "node2", "mode": "nbd"})
        self.expect_error("POST", attachments, 404, "volume_not_found", {"volume": "og-nope"},
                          body={"host": "node1"})
        self.expect_error("POST", attachments, 400, "invalid_field", {"volume": "og-v1"},
                          body={"host": "node1", "mode": "iscsi"}, schema_rejects_body=True)
        self.expect_error("GET", attachments, 404, "volume_not_found", {"volume": "og-nope"})
        self.expect_error("DELETE", "/v1/volumes/{volume}", 409, "volume_attached", {"volume": "og-v1"})
        self.expect_error("DELETE", attachments + "/{host}", 404, "volume_not_found",
                          {"volume": "og-nope", "host": "node1"})
        c("DELETE", attachments + "/{host}", one, expect=204)
        c("DELETE", attachments + "/{host}", one, query="?force=true", expect=204)
        self.assertEqual(c("GET", attachments, {"volume": "og-v1"}, expect=200).body["attachments"], [])
        c("DELETE", "/v1/volumes/{volume}", {"volume": "og-v1"}, expect=204)

        # Adopt and forget, against the ghost node's report of an unmanaged volume in its pool.
        ghost_pool = dict(body["pools"][0], unmanaged=[{"name": "og-legacy", "size_bytes": 1 << 20,
                                                        "path": "/nowhere/og-legacy.img"}])
        c("PUT", "/v1/internal/nodes/{node}/status", {"node": "og-ghost"}, token=ghost_token, expect=204,
          body={"applied_generation": state["generation"], "pools": [ghost_pool], "replicas": []})
        adopt = {"node": "og-ghost", "pool": "tiny", "backing_name": "og-legacy", "resource_group": "og-pair"}
        dry = c("POST", "/v1/volumes/{volume}/adopt", {"volume": "og-a"}, body=dict(adopt, dry_run=True),
                expect=200).body
        self.assertEqual((dry["size_bytes"], dry["primary_node"]), (1 << 20, "og-ghost"))
        adopted = c("POST", "/v1/volumes/{volume}/adopt", {"volume": "og-a"}, body=adopt, expect=201).body
        self.assertEqual((adopted["state"], len(adopted["replicas"])), ("creating", 1))
        self.assertEqual(c("POST", "/v1/volumes/{volume}/adopt", {"volume": "og-a"}, body=adopt,
                           expect=200).body["uuid"], adopted["uuid"])
        self.expect_error("POST", "/v1/volumes/{volume}/adopt", 409, "backing_managed", {"volume": "og-b"},
                          body=adopt)
        self.expect_error("POST", "/v1/volumes/{volume}/adopt", 404, "backing_not_found", {"volume": "og-b"},
                          body=dict(adopt, backing_name="og-none"))
        self.expect_error("POST", "/v1/volumes/{volume}/adopt", 404, "pool_not_found", {"volume": "og-b"},
                          body=dict(adopt, pool="og-none"))
        self.expect_error("POST", "/v1/volumes/{volume}/adopt", 400, "missing_field", {"volume": "og-b"},
                          body={"node": "og-ghost"}, schema_rejects_body=True)
        gone = c("POST", "/v1/volumes/{volume}/forget", {"volume": "og-a"}, body={}, expect=200).body
        self.assertEqual((gone["node"], gone["pool"], gone["backing_name"], gone["backing_path"]),
                         ("og-ghost", "tiny", "og-legacy", "/nowhere/og-legacy.img"))
        self.expect_error("POST", "/v1/volumes/{volume}/forget", 404, "volume_not_found", {"volume": "og-a"},
                          body={})
        c("DELETE", "/v1/resource-groups/{group}", {"group": "og-pair"}, expect=204)

        # The ghost node holds nothing: once silent it can be forgotten (while it reports, not).
        self.expect_error("DELETE", "/v1/nodes/{node}", 409, "node_online", {"node": "og-ghost"})
        deadline = time.monotonic() + 30
        while c("GET", "/v1/nodes/{node}", {"node": "og-ghost"}, expect=200).body["state"] != "offline":
            self.assertLess(time.monotonic(), deadline, "og-ghost never went offline")
            time.sleep(0.2)
        c("DELETE", "/v1/nodes/{node}", {"node": "og-ghost"}, expect=204)
        self.expect_error("GET", "/v1/nodes/{node}", 404, "node_not_found", {"node": "og-ghost"})

        missing = sorted(set((p, m) for p, m, _ in oc.operations(self.spec)) - self.exercised)
        self.assertEqual(missing, [], "documented operations this test did not call")

    def test_invalid_inputs_answer_documented_errors(self):
        # Bad tokens, bodies, queries and names answer the documented status with the Error shape.
        e = self.expect_error
        _, intruder = self.register_fake_node("og-intruder")
        node_token = intruder["token"]
        self.call("POST", "/v1/resource-groups", body={"name": "og-err"}, expect=201)

        # Authentication.
        e("GET", "/v1/volumes", 401, "unauthenticated", token="")
        e("GET", "/v1/volumes", 401, "unauthenticated", token="not-the-token")
        e("GET", "/v1/volumes", 403, "permission_denied", token=node_token)
        e("GET", "/v1/internal/nodes/{node}/desired", 401, "unauthenticated", {"node": "node1"}, token=node_token)
        e("PUT", "/v1/internal/nodes/{node}/status", 401, "unauthenticated", {"node": "node1"}, body={},
          token=node_token)

        # Not found.
        e("GET", "/v1/nodes/{node}", 404, "node_not_found", {"node": "og-nope"})
        e("GET", "/v1/resource-groups/{group}", 404, "resource_group_not_found", {"group": "og-nope"})
        e("DELETE", "/v1/resource-groups/{group}", 404, "resource_group_not_found", {"group": "og-nope"})
        e("GET", "/v1/volumes/{volume}", 404, "volume_not_found", {"volume": "og-nope"})
        e("DELETE", "/v1/volumes/{volume}", 404, "volume_not_found", {"volume": "og-nope"})
        e("DELETE", "/v1/nodes/{node}", 404, "node_not_found", {"node": "og-nope"})
        e("POST", "/v1/nodes/{node}/evacuate", 404, "node_not_found", {"node": "og-nope"})
        e("DELETE", "/v1/nodes/{node}/evacuate", 404, "node_not_found", {"node": "og-nope"})
        e("DELETE", "/v1/nodes/{node}", 409, "node_online", {"node": "node1"})
        e("GET", "/v1/internal/nodes/{node}/desired", 404, "node_not_found", {"node": "og-nope"})
        e("PUT", "/v1/internal/nodes/{node}/status", 404, "node_not_found", {"node": "og-nope"}, body={})

        # Query and body parsing.
        e("GET", "/v1/internal/nodes/{node}/desired", 400, "invalid_query", {"node": "node1"}, query="?after=abc")
        e("POST", "/v1/volumes", 400, "invalid_query", query="?dry_run=maybe",
          body={"name": "og-q", "size_bytes": 1 << 20, "resource_group": "og-err"})
        e("GET", "/v1/internal/nodes/{node}/desired", 400, "invalid_query", {"node": "node1"}, query="?wait=-1")
        e("POST", "/v1/volumes", 400, "malformed_json", raw=b'{"name": ')
        e("POST", "/v1/volumes", 400, "malformed_json", raw=b"[]")
        e("POST", "/v1/volumes", 413, "body_too_large", raw=b"{" + b" " * (2 << 20) + b"}")
        e("PUT", "/v1/internal/nodes/{node}/status", 400, "unknown_field", {"node": "og-intruder"},
          body={"bogus": 1}, token=node_token, schema_rejects_body=True)

        vol = {"name": "og-v", "size_bytes": 1 << 20, "resource_group": "og-err"}
        bad_volumes = [
            ("missing_field", {k: v for k, v in vol.items() if k != "name"}),
            ("missing_field", {k: v for k, v in vol.items() if k != "resource_group"}),
            ("invalid_field", dict(vol, name="-starts-with-dash")),
            ("invalid_field", dict(vol, name="x" * 65)),
            ("invalid_field", dict(vol, name="has space")),
            ("invalid_field", dict(vol, size_bytes=1000)),
            ("invalid_field", dict(vol, size_bytes=0)),
            ("invalid_field", dict(vol, size_bytes="1G")),
            ("invalid_field", dict(vol, size_bytes=-512)),
            ("invalid_field", dict(vol, size_bytes=(1 << 50) + 512)),
            ("invalid_field", dict(vol, size_gib=1)),
            ("invalid_field", {k: v for k, v in vol.items() if k != "size_bytes"}),
            ("invalid_field", {"name": "og-v", "size_gib": 0, "resource_group": "og-err"}),
            ("invalid_field", {"name": "og-v", "size_gib": (1 << 20) + 1, "resource_group": "og-err"}),
            ("unknown_field", dict(vol, source={"volume": "x", "clone": True})),
        ]
        for code, body in bad_volumes:
            with self.subTest(body=body):
                e("POST", "/v1/volumes", 400, code, body=body, schema_rejects_body=True)

        bad_groups = [
            ("missing_field", {"replicas": 2}),
            ("invalid_field", {"name": "og-g", "replicas": 0}),
            ("invalid_field", {"name": "og-g", "replicas": 9}),
            ("invalid_field", {"name": "og-g", "thin": "yes"}),
            ("invalid_field", {"name": "og-g", "pools": ["bad pool"]}),
            ("invalid_field", {"name": "og-g", "pools": "default"}),
            ("invalid_field", {"name": "og-g", "overprovision": 0.5}),
            ("invalid_field", {"name": "og-g", "overprovision": "2"}),
            ("invalid_field", {"name": "og-g", "replicas_on_different": ["a b"]}),
            ("invalid_field", {"name": "og-g", "quorum": "all"}),
            ("invalid_field", {"name": "og-g", "quorum": True}),
            ("invalid_field", {"name": "og-g", "allow_multiattach": "yes"}),  # a boolean (issue 9)
            ("unknown_field", {"name": "og-g", "multiattach": True}),
        ]
        for code, body in bad_groups:
            with self.subTest(body=body):
                e("POST", "/v1/resource-groups", 400, code, body=body, schema_rejects_body=True)
        # An engine Tandem does not have is well-formed but impossible: 422 naming the choices.
        reply = e("POST", "/v1/resource-groups", 422, "invalid_engine", body={"name": "og-g", "engine": "raid"},
                  schema_rejects_body=True)
        self.assertIn('"native" or "drbd"', reply.body["error"]["message"])

        node = {"name": "og-n", "address": "127.0.0.1", "nbd_port": 10809, "replication_port": 7789}
        bad_nodes = [
            ("missing_field", {k: v for k, v in node.items() if k != "address"}),
            ("invalid_field", dict(node, nbd_port=0)),
            ("invalid_field", dict(node, replication_port=70000)),
            ("invalid_field", dict(node, address="")),
            ("invalid_field", dict(node, uuid="not-a-uuid")),
            ("missing_field", dict(node, pools=[{"name": "p"}])),
            ("unknown_field", dict(node, pools=[{"name": "p", "provider": "file", "total_bytes": 1,
                                                 "free_bytes": 1, "colour": "red"}])),
            ("invalid_field", dict(node, labels={"zone": "a b"})),
            ("invalid_field", dict(node, labels=["zone=a"])),
            ("invalid_field", dict(node, labels={"zone": 1})),
            ("unknown_field", dict(node, maintenance=True)),
        ]
        for code, body in bad_nodes:
            with self.subTest(body=body):
                e("POST", "/v1/nodes", 400, code, body=body, schema_rejects_body=True)

        # Valid bodies the current state refuses.
        e("POST", "/v1/nodes", 409, "node_exists", body=dict(node, name="node1"), schema_rejects_body=False)
        e("POST", "/v1/nodes", 409, "node_exists", body=dict(node, name="node1", uuid=str(uuidlib.uuid4())),
          schema_rejects_body=False)
        e("POST", "/v1/resource-groups", 409, "resource_group_exists", body={"name": "og-err", "replicas": 1},
          schema_rejects_body=False)
        e("POST", "/v1/volumes", 404, "resource_group_not_found", body=dict(vol, resource_group="og-nope"),
          schema_rejects_body=False)
        self.call("POST", "/v1/resource-groups", body={"name": "og-three", "replicas": 3}, expect=201)
        e("POST", "/v1/volumes", 422, "not_enough_nodes", body=dict(vol, resource_group="og-three"),
          schema_rejects_body=False)
        e("POST", "/v1/volumes", 422, "volume_too_large",
          body={"name": "og-huge", "size_gib": 1 << 20, "resource_group": "og-err"}, schema_rejects_body=False)
        self.call("POST", "/v1/volumes", body=vol, expect=201)
        e("POST", "/v1/volumes", 409, "volume_exists", body=dict(vol, size_bytes=2 << 20), schema_rejects_body=False)
        e("POST", "/v1/volumes", 409, "volume_exists",
          body={"name": "og-v", "size_gib": 1, "resource_group": "og-err"}, schema_rejects_body=False)
        names = [v["name"] for v in self.call("GET", "/v1/volumes", expect=200).body["volumes"]]
        self.assertEqual([n for n in names if n in ("og-v", "og-v5", "og-huge")], ["og-v"],
                         "refused creates leave nothing behind")
        self.call("DELETE", "/v1/volumes/{volume}", {"volume": "og-v"}, expect=204)

    def test_documented_paths_are_routed_and_planned_ones_are_not(self):
        # Every spec operation is routed (never route_not_found) and enforces its documented auth;
        # the routes info.description calls planned still answer route_not_found.
        spec = self.spec
        params = {"node": "og-probe", "group": "og-probe", "volume": "og-probe"}
        for path, method, op in oc.operations(spec):
            target = path
            for name, value in params.items():
                target = target.replace("{" + name + "}", value)
            with self.subTest(op=f"{method.upper()} {path}"):
                body = b"{}" if "requestBody" in op else None
                reply = self.request(method.upper(), target, raw=body)
                code = reply.body["error"]["code"] if reply.status >= 400 else None
                self.assertNotEqual(code, "route_not_found", f"the spec lists {method.upper()} {path}: {reply!r}")
                self.assertNotEqual(code, "method_not_allowed", f"the spec lists {method.upper()} {path}: {reply!r}")
                anonymous = self.request(method.upper(), target, raw=body, token="")
                if effective_security(spec, op):
                    self.assertEqual(anonymous.status, 401, f"{method.upper()} {path} without a token: {anonymous!r}")
                else:
                    self.assertEqual(anonymous.status, 200, f"{method.upper()} {path} is open: {anonymous!r}")
        for method, target in PLANNED:
            with self.subTest(planned=f"{method} {target}"):
                body = b"{}" if method in ("POST", "PUT") else None
                reply = self.request(method, target, raw=body)
                self.assertEqual((reply.status, reply.body["error"]["code"]), (404, "route_not_found"),
                                 f"{method} {target} is routed now: add it to docs/openapi.yaml ({reply!r})")
                oc.validate("Error", reply.body, spec)

    def wait_volume(self, name, state, seen, timeout=120, replica_state=None):
        """Polls GET /v1/volumes/{name} (each reply checked against the spec) until the volume is
        in `state` and, when given, some replica in `replica_state`."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.call("GET", "/v1/volumes/{volume}", {"volume": name}, expect=200).body
            replica_states = [r["state"] for r in view["replicas"]]
            seen.add((view["state"],) + tuple(sorted(replica_states)))
            if view["state"] == state and (replica_state is None or replica_state in replica_states):
                return view
            if time.monotonic() > deadline:
                self.fail(f"volume {name} not {state} after {timeout}s; states seen: {sorted(seen)}")
            time.sleep(0.2)

    def test_volume_views_match_the_spec_through_failure_and_resync(self):
        # A volume's view matches the Volume schema while it is created, degraded by a stopped
        # node, and resynced after the node returns (every intermediate GET is validated).
        seen = set()
        self.call("POST", "/v1/resource-groups", body={"name": "og-life"}, expect=201)
        self.call("POST", "/v1/volumes", body={"name": "og-life", "size_bytes": 4 << 20, "resource_group": "og-life"},
                  expect=201)
        view = self.wait_volume("og-life", "available", seen)
        self.assertTrue(all(r["state"] == "up_to_date" for r in view["replicas"]), view)
        secondary = next(r["node"] for r in view["replicas"] if not r["primary"])
        self.cluster.nodes[secondary].stop()
        try:
            view = self.wait_volume("og-life", "degraded", seen, timeout=60, replica_state="offline")
            self.assertTrue(view["reason"], "a degraded volume says why")
            self.expect_error("DELETE", "/v1/nodes/{node}", 409, "node_in_use", {"node": secondary})
            self.assertEqual(self.call("GET", "/v1/nodes/{node}", {"node": secondary}, expect=200).body["state"],
                             "offline")
            pools = self.call("GET", "/v1/storage-pools", expect=200).body["storage_pools"]
            self.assertIn("offline", [p["state"] for p in pools if p["node"] == secondary])
        finally:
            self.cluster.start_node(secondary)
        self.wait_volume("og-life", "available", seen)
        self.call("DELETE", "/v1/volumes/{volume}", {"volume": "og-life"}, expect=204)
        self.call("DELETE", "/v1/resource-groups/{group}", {"group": "og-life"}, expect=204)

    def test_undocumented_methods_on_documented_paths_are_refused(self):
        # A method the spec does not list for a path answers 405 method_not_allowed with an Allow
        # header naming exactly the methods the spec lists (see info.description).
        params = {"node": "og-probe", "group": "og-probe", "volume": "og-probe"}
        for path, item in self.spec["paths"].items():
            target = path
            for name, value in params.items():
                target = target.replace("{" + name + "}", value)
            for method in ("get", "put", "post", "delete", "patch"):
                if method in item:
                    continue
                with self.subTest(op=f"{method.upper()} {path}"):
                    reply = self.request(method.upper(), target, raw=b"{}" if method != "get" else None)
                    self.assertEqual((reply.status, reply.body["error"]["code"]), (405, "method_not_allowed"),
                                     repr(reply))
                    listed = sorted(m.upper() for m in ("get", "put", "post", "delete", "patch") if m in item)
                    allow = sorted(a.strip() for a in (reply.headers.get("Allow") or "").split(","))
                    self.assertEqual(allow, listed, repr(reply))
                    oc.validate("Error", reply.body, self.spec)


if __name__ == "__main__":
    unittest.main()
