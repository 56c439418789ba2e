"""Balanced, explainable placement with real processes:
- four nodes with equal thin pools (each its own tmpfs, so the free space they report is equal and
  other tests writing to this machine's disk do not tip the balance): 12 one-replica and 6 two-replica volumes created back to back
  (most before any heartbeat reports them) end with at most one replica of difference between
  nodes (ranked by free space then name they landed 8/7/6/3);
- `POST /v1/volumes?dry_run=true` and `tandem volume create --dry-run` show the chosen nodes with
  their scores and create nothing; the real create then picks the same nodes."""

from clusterfixture import ApiError, ClusterTestCase

MiB = 1 << 20


class BalancedPlacementTest(ClusterTestCase):
    nodes = 4
    pool_tmpfs = "256m"

    def replicas_per_node(self):
        counts = {n["name"]: 0 for n in self.cluster.api.get("/v1/nodes")["nodes"]}
        for v in self.cluster.api.get("/v1/volumes")["volumes"]:
            for r in v["replicas"]:
                counts[r["node"]] += 1
        return counts

    def test_equal_thin_nodes_share_replicas_evenly(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "one", "replicas": 1})
        api.post("/v1/resource-groups", {"name": "two", "replicas": 2})
        for i in range(12):
            api.post("/v1/volumes", {"name": f"single{i}", "size_bytes": 4 * MiB, "resource_group": "one"})
        for i in range(6):
            api.post("/v1/volumes", {"name": f"pair{i}", "size_bytes": 4 * MiB, "resource_group": "two"})
        counts = self.replicas_per_node()
        print("replicas per node:", counts)
        self.assertEqual(len(counts), 4)
        # Counted over every volume (the dry-run test may have made one before): at most one apart.
        self.assertLessEqual(max(counts.values()) - min(counts.values()), 1, counts)

    def test_dry_run_shows_scored_nodes_and_creates_nothing(self):
        api = self.cluster.api
        # Free space 0: the nodes' pools share this machine's filesystem, whose free space others'
        # writes move between the plan and the create; the promised ratio and counts do not.
        weights = {"free_space": 0, "provisioned": 1, "replica_count": 2}
        group = api.post("/v1/resource-groups", {"name": "dry", "replicas": 3, "placement_weights": weights})
        self.assertEqual(group["placement_weights"], weights)
        self.assertEqual(api.get("/v1/resource-groups/dry")["placement_weights"],
                         weights)
        before = api.get("/v1/volumes")["volumes"]
        body = {"name": "planned", "size_bytes": 8 * MiB, "resource_group": "dry"}
        status, plan = api.call("POST", "/v1/volumes?dry_run=true", body)
        self.assertEqual(status, 200)
        self.assertIs(plan["dry_run"], True)
        self.assertEqual((plan["name"], plan["size_bytes"], plan["resource_group"]), ("planned", 8 * MiB, "dry"))
        self.assertEqual(plan["placement_weights"], weights)
        replicas = plan["replicas"]
        self.assertEqual(len(replicas), 3)
        self.assertEqual(len({r["node"] for r in replicas}), 3)
        self.assertEqual([r["primary"] for r in replicas], [True, False, False])
        for r in replicas:
            self.assertAlmostEqual(r["score"], 0 * r["free_space"] + r["provisioned"] + 2 * r["replica_count"],
                                   places=6)
            for term in ("free_space", "provisioned", "replica_count"):
                self.assertTrue(0 <= r[term] <= 1, r)
        for a, b in zip(replicas, replicas[1:]):
            self.assertGreaterEqual(a["score"], b["score"] - 0.001, replicas)
        # Nothing was made.
        with self.assertRaises(ApiError) as missing:
            api.get("/v1/volumes/planned")
        self.assertEqual(missing.exception.status, 404)
        self.assertEqual(api.get("/v1/volumes")["volumes"], before)
        # The CLI shows the same plan as a table.
        out = self.tandem("volume", "create", "planned", "--size", "8MiB", "--group", "dry", "--dry-run").stdout
        self.assertIn("dry run", out)
        self.assertIn("SCORE", out)
        for r in replicas:
            self.assertIn(r["node"], out)
        self.tandem("volume", "show", "planned", expect=1)
        # The real create places where the plan said.
        made = api.post("/v1/volumes", body)
        self.assertEqual(made["primary_node"], replicas[0]["node"])
        self.assertEqual(sorted(r["node"] for r in made["replicas"]), sorted(r["node"] for r in replicas))
        # A dry run of an existing name, or of a bad query, is refused.
        with self.assertRaises(ApiError) as exists:
            api.call("POST", "/v1/volumes?dry_run=true", body)
        self.assertEqual((exists.exception.status, exists.exception.code), (409, "volume_exists"))
        with self.assertRaises(ApiError) as bad:
            api.call("POST", "/v1/volumes?dry_run=maybe", dict(body, name="other"))
        self.assertEqual((bad.exception.status, bad.exception.code), (400, "invalid_query"))
