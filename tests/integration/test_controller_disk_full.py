"""The controller's own disk fills up: its SQLite database lives on a 2 MiB tmpfs that the test
fills. Every change is refused with 503 `store_full` and a message that says so, nothing is half
made, reads and node heartbeats go on (observed state is not stored), and once there is room
again the same requests succeed. Needs root for the tmpfs (skipped otherwise)."""

import os
import shutil
import subprocess
import tempfile
import unittest

from clusterfixture import BIN_DIR, ApiError, LocalCluster, wait_for

MiB = 1 << 20


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs for the database needs root")
class ControllerDiskFullTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tandem-it-")
        cls.db_dir = os.path.join(cls.tmp, "db")
        os.makedirs(cls.db_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", cls.db_dir], check=True)
        cls.cluster = LocalCluster(cls.tmp, BIN_DIR, nodes=2,
                                   controller_args=[f"--database={cls.db_dir}/controller.db"])
        try:
            cls.cluster.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        subprocess.run(["umount", cls.db_dir], check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def expect_store_full(self, path, body):
        with self.assertRaises(ApiError) as ctx:
            self.cluster.api.post(path, body)
        self.assertEqual((ctx.exception.status, ctx.exception.code), (503, "store_full"), ctx.exception.body)
        self.assertIn("database disk is full", ctx.exception.body)

    def test_changes_are_refused_cleanly_until_there_is_room(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "pair", "replicas": 2})
        ballast = os.path.join(self.db_dir, "ballast")
        subprocess.run(["dd", "if=/dev/zero", f"of={ballast}", "bs=64k", "count=64", "status=none"],
                       stderr=subprocess.DEVNULL, check=False)  # stops at ENOSPC, as meant

        self.expect_store_full("/v1/volumes", {"name": "v1", "size_bytes": 8 * MiB, "resource_group": "pair"})
        self.expect_store_full("/v1/resource-groups", {"name": "other", "replicas": 1})
        self.assertEqual(api.get("/v1/volumes")["volumes"], [])
        self.assertEqual([g["name"] for g in api.get("/v1/resource-groups")["resource_groups"]], ["pair"])
        # Heartbeats keep the nodes online: observed state is in memory.
        wait_for("heartbeats while the disk is full", lambda: self.cluster.online_nodes() == 2, 10)

        os.unlink(ballast)
        vol = api.post("/v1/volumes", {"name": "v1", "size_bytes": 8 * MiB, "resource_group": "pair"})
        self.assertEqual(len(vol["replicas"]), 2)
        self.cluster.wait_volume_state("v1", "available", timeout=60)
