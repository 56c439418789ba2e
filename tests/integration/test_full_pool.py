"""A pool that fills up under a thin volume: writes fail with ENOSPC at the NBD client, nothing
already written is lost, the controller keeps answering, and writes work again once there is room.
The pool is a small tmpfs mounted for the test (needs root; skipped with the reason otherwise)."""

import os
import subprocess
import unittest

from clusterfixture import ClusterTestCase, run

MiB = 1 << 20


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs for the pool needs root")
class FullPoolTest(ClusterTestCase):
    nodes = 0

    def setUp(self):
        self.pool = self.start_node_on_tmpfs("tiny", "24m")

    def test_writes_fail_cleanly_when_the_pool_is_full(self):
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": "single", "replicas": 1})
        vol = api.post("/v1/volumes", {"name": "thin", "size_bytes": 16 * MiB, "resource_group": "single"})
        vol = self.cluster.wait_volume_state("thin", "available", timeout=60)
        uri = vol["nbd_uri"]
        run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x11 0 2M", uri)

        ballast = os.path.join(self.pool, "ballast")
        subprocess.run(["dd", "if=/dev/zero", f"of={ballast}", "bs=1M", "count=64", "status=none"], check=False)
        full = run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x22 4M 8M", uri, check=False)
        self.assertIn("No space left on device", full.stdout + full.stderr, full.stdout + full.stderr)

        # Nothing written before is lost, and the controller still serves the volume.
        run("qemu-io", "-f", "raw", "-c", "read -P 0x11 0 2M", uri)
        self.assertEqual(api.get("/v1/volumes/thin")["name"], "thin")

        os.unlink(ballast)
        run("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x33 4M 8M", "-c", "read -P 0x33 4M 8M", uri)
