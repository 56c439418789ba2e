"""Bad input over real HTTPS: precise JSON errors, the right status, nothing half-made."""

import json
import ssl
import urllib.request

from clusterfixture import ApiError, ClusterTestCase


class ApiErrorsTest(ClusterTestCase):
    nodes = 2

    def expect_error(self, status, code, method, path, body=None, token=None, raw=None):
        with self.assertRaises(ApiError) as ctx:
            self.cluster.api.call(method, path, body, token=token, raw=raw)
        self.assertEqual(ctx.exception.status, status, ctx.exception.body)
        self.assertEqual(ctx.exception.code, code, ctx.exception.body)
        err = json.loads(ctx.exception.body)["error"]
        self.assertTrue(err["message"])

    def test_errors(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "pair", "replicas": 2})
        api.post("/v1/resource-groups", {"name": "five", "replicas": 5})
        self.expect_error(401, "unauthenticated", "GET", "/v1/volumes", token="")
        self.expect_error(401, "unauthenticated", "GET", "/v1/volumes", token="wrong-token")
        self.expect_error(400, "malformed_json", "POST", "/v1/volumes", raw=b'{"name": ')
        self.expect_error(400, "invalid_field", "POST", "/v1/volumes",
                          {"name": "v", "size_bytes": "1G", "resource_group": "pair"})
        self.expect_error(400, "malformed_json", "POST", "/v1/volumes",
                          raw=b'{"name":"d","size_bytes":1048576,"size_bytes":2097152,"resource_group":"pair"}')
        self.expect_error(400, "invalid_field", "POST", "/v1/resource-groups",
                          {"name": "g", "thin": False, "overprovision": 2})
        self.expect_error(400, "invalid_field", "POST", "/v1/resource-groups", {"name": "g", "overprovision": 0.5})
        self.expect_error(400, "invalid_field", "POST", "/v1/resource-groups",
                          {"name": "g", "replicas_on_different": ["zone/x"]})
        self.expect_error(413, "body_too_large", "POST", "/v1/volumes", raw=b"{" + b" " * (2 << 20) + b"}")
        self.expect_error(404, "volume_not_found", "GET", "/v1/volumes/nope")
        self.expect_error(422, "volume_too_large", "POST", "/v1/volumes",
                          {"name": "huge", "size_bytes": 1 << 49, "resource_group": "pair"})
        self.expect_error(422, "not_enough_nodes", "POST", "/v1/volumes",
                          {"name": "v5", "size_bytes": 1 << 20, "resource_group": "five"})
        api.post("/v1/volumes", {"name": "v", "size_bytes": 1 << 20, "resource_group": "pair"})
        self.expect_error(409, "volume_exists", "POST", "/v1/volumes",
                          {"name": "v", "size_bytes": 2 << 20, "resource_group": "pair"})
        names = [v["name"] for v in api.get("/v1/volumes")["volumes"]]
        self.assertEqual(names, ["v"], "failed creates must leave nothing behind")
        groups = [g["name"] for g in api.get("/v1/resource-groups")["resource_groups"]]
        self.assertNotIn("g", groups, "refused groups must leave nothing behind")

    def test_service_and_join_tokens_are_scoped(self):
        # The nodes of this cluster registered with the join token (localcluster passes only that).
        api, c = self.cluster.api, self.cluster
        self.assertEqual(c.online_nodes(), 2)
        self.expect_error(403, "permission_denied", "GET", "/v1/volumes", token=c.join_token)
        self.expect_error(403, "permission_denied", "POST", "/v1/resource-groups", {"name": "x"}, token=c.join_token)
        api.post("/v1/resource-groups", {"name": "svc", "replicas": 2})
        self.expect_error(403, "permission_denied", "POST", "/v1/resource-groups", {"name": "y"},
                          token=c.service_token)
        self.expect_error(403, "permission_denied", "GET", "/v1/nodes", token=c.service_token)
        self.expect_error(403, "permission_denied", "DELETE", "/v1/resource-groups/svc", token=c.service_token)
        status, vol = api.call("POST", "/v1/volumes", {"name": "svc-v", "size_gib": 1, "resource_group": "svc"},
                       token=c.service_token)
        self.assertEqual((status, len(vol["replicas"])), (201, 2))
        self.assertEqual(api.call("GET", "/v1/resource-groups/svc", token=c.service_token)[1]["name"], "svc")
        api.call("DELETE", "/v1/volumes/svc-v", token=c.service_token)
        self.assertNotIn("svc-v", [v["name"] for v in api.get("/v1/volumes")["volumes"]])

    def test_old_tls_is_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.cluster.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, OSError)):
            urllib.request.urlopen(self.cluster.url + "/v1/version", context=ctx, timeout=10)
