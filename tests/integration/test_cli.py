"""The `tandem` CLI against a real controller and node workers: tables, --json, errors, the
pools' provider and capacity as the nodes report them, and grow, snapshots and clones."""

import json
import os
import subprocess
import time

from clusterfixture import BIN_DIR, ClusterTestCase


class CliTest(ClusterTestCase):
    nodes = 2

    def test_pool_list_shows_real_capacity(self):
        pools = json.loads(self.tandem("pool", "list", "--json").stdout)["storage_pools"]
        self.assertEqual(len(pools), 2)
        for p in pools:
            self.assertEqual(p["provider"], "file")
            self.assertTrue(p["thin"])
            self.assertTrue(p["snapshots"])
            st = os.statvfs(self.cluster.pool_dir(p["node"]))
            self.assertEqual(p["total_bytes"], st.f_blocks * st.f_frsize)
            self.assertGreater(p["free_bytes"], 0)
        table = self.tandem("pool", "list").stdout
        self.assertIn("file", table)
        self.assertIn("node1", table)

    def test_volume_lifecycle_and_errors(self):
        self.tandem("group", "create", "pair", "--replicas", "2")
        self.tandem("volume", "create", "cli-vol", "--size", "16MiB", "--group", "pair")
        shown = json.loads(self.tandem("volume", "show", "cli-vol", "--json").stdout)
        self.assertEqual(shown["size_bytes"], 16 << 20)
        self.assertEqual(len(shown["replicas"]), 2)
        self.assertIn("cli-vol", self.tandem("volume", "list").stdout)
        err = self.tandem("volume", "show", "missing", expect=1).stderr
        self.assertIn("volume_not_found", err)
        self.tandem("volume", "create", "x", "--size", "lots", "--group", "pair", expect=2)
        self.tandem("volume", "delete", "cli-vol")
        self.tandem("volume", "show", "cli-vol", expect=1)
        bad = subprocess.run([os.path.join(BIN_DIR, "tandem"), "--url", self.cluster.url, "--token", "wrong",
                              "--ca-file", self.cluster.ca, "volume", "list"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1, bad.stderr)
        self.assertIn("unauthenticated", bad.stderr)

    def test_grow_snapshot_and_clone(self):
        self.tandem("group", "create", "pair2", "--replicas", "2")
        self.tandem("volume", "create", "cli-grow", "--size", "8MiB", "--group", "pair2")
        self.assertIn("is now", self.tandem("volume", "grow", "cli-grow", "--size", "16MiB").stdout)
        self.assertEqual(json.loads(self.tandem("volume", "show", "cli-grow", "--json").stdout)["size_bytes"], 16 << 20)
        self.assertIn("volume_shrink", self.tandem("volume", "grow", "cli-grow", "--size", "8MiB", expect=1).stderr)
        # A snapshot is taken on the replicas up to date at that moment: both, once available.
        self.cluster.wait_volume_state("cli-grow", "available", timeout=60)
        self.assertIn("created snapshot 'cli-s1'", self.tandem("snapshot", "create", "cli-grow", "cli-s1").stdout)
        deadline = time.monotonic() + 60
        while True:
            snaps = json.loads(self.tandem("snapshot", "list", "cli-grow", "--json").stdout)["snapshots"]
            if snaps[0]["state"] == "available" and len(snaps[0]["copies"]) == 2:
                break
            self.assertLess(time.monotonic(), deadline, snaps)
            time.sleep(0.2)
        self.assertIn("cli-s1", self.tandem("snapshot", "list", "cli-grow").stdout)
        self.tandem("volume", "clone", "cli-copy", "--from", "cli-grow", "--snapshot", "cli-s1", "--size", "16MiB",
                    "--group", "pair2")
        self.assertIn("volume_has_snapshots", self.tandem("volume", "delete", "cli-grow", expect=1).stderr)
        self.tandem("volume", "delete", "cli-copy")
        self.assertIn("deleted snapshot", self.tandem("snapshot", "delete", "cli-grow", "cli-s1").stdout)
        self.tandem("volume", "delete", "cli-grow")
