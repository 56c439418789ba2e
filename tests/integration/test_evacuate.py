"""Node evacuation with real processes (POST /v1/nodes/{n}/evacuate, `tandem node evacuate`): the
node holding a volume's primary is evacuated while a writer keeps writing; a replica is placed
on the spare node and synced, the primary is handed over, and only then is the evacuated node's
copy deleted — no write fails, the data and every replica are identical, nothing new is placed on
the node. A second evacuation that has nowhere to go says why per volume, and is cancelled."""

import hashlib
import os
import subprocess
import unittest

from clusterfixture import ApiError, ClusterTestCase, wait_for
from test_attachments import FsyncWriter, attach_block_device

MiB = 1 << 20


class EvacuateTest(ClusterTestCase):
    nodes = 4

    @unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/dev/fuse"), "needs root and /dev/fuse")
    def test_evacuating_the_primarys_node_moves_every_replica_off_it(self):
        api = self.cluster.api
        vol = self.available_volume("ev", 32 * MiB)
        node = vol["primary_node"]
        holders = {r["node"] for r in vol["replicas"]}
        spare = next(n for n in self.cluster.nodes if n not in holders)
        # Attached as a block device on the spare node (served over NBD from the primary): the
        # attachment follows the primary, so a writer keeps going across the handover.
        dev, leave_nothing_behind = attach_block_device(self, "ev", spare)
        payload = os.urandom(16 * MiB)
        with open(dev, "r+b", buffering=0) as f:
            f.write(payload)
            os.fsync(f.fileno())

        with FsyncWriter(dev, 20 * MiB) as writer:
            out = self.tandem("node", "evacuate", node).stdout
            self.assertIn(f"evacuating node '{node}'", out)
            self.assertTrue(api.get(f"/v1/nodes/{node}")["evacuating"])
            wait_for(f"every replica off {node}", lambda: api.get(f"/v1/nodes/{node}")["evacuation"][
                "replicas_left"] == 0, 120)
            at = len(writer.acked)
            wait_for("writes after the move", lambda: len(writer.acked) >= min(at + 8, 64) or writer.failures, 60)
        self.assertEqual(writer.failures, [], "a write failed during the evacuation")
        vol = self.cluster.volume("ev")
        self.assertEqual({r["node"] for r in vol["replicas"]}, (holders - {node}) | {spare})
        self.assertEqual(vol["primary_node"], spare, "the primary moves to the attached host")
        region = subprocess.run(["dd", f"if={dev}", "iflag=direct", "bs=1M", "count=24", "status=none"],
                                capture_output=True, check=True).stdout
        self.assertEqual(hashlib.sha256(region[:16 * MiB]).hexdigest(), hashlib.sha256(payload).hexdigest())
        writer.check(self, region[20 * MiB:24 * MiB])
        status, _ = api.call("DELETE", f"/v1/volumes/ev/attachments/{spare}")
        self.assertEqual(status, 204)
        leave_nothing_behind()
        vol = self.cluster.wait_volume_state("ev", "available", timeout=120)
        self.assert_replicas_identical(vol)
        evacuation = api.get(f"/v1/nodes/{node}")["evacuation"]
        self.assertEqual((evacuation["replicas_left"], evacuation["moving"], evacuation["blocked"]), (0, 0, []))
        self.assertIn("done", self.tandem("node", "list").stdout)

        # Nothing new goes to the evacuated node; with it out, three replicas fit exactly.
        new = self.available_volume("after", 8 * MiB)
        self.assertNotIn(node, {r["node"] for r in new["replicas"]})

        # A second node cannot be evacuated: no fourth node is left for its replicas. Each volume
        # says why; cancelling stops it and the volumes stay where they are.
        other = vol["primary_node"]
        status, view = api.call("POST", f"/v1/nodes/{other}/evacuate")
        self.assertEqual(status, 202)
        wait_for("the blocked volumes listed", lambda: len(
            api.get(f"/v1/nodes/{other}")["evacuation"]["blocked"]) == 2, 30)
        blocked = api.get(f"/v1/nodes/{other}")["evacuation"]["blocked"]
        self.assertEqual(sorted(b["volume"] for b in blocked), ["after", "ev"])
        for b in blocked:
            self.assertIn("node", b["reason"], b)
        self.assertIn("ev: ", self.tandem("node", "evacuate", other).stdout)
        self.assertIn("no longer being evacuated", self.tandem("node", "evacuate", other, "--cancel").stdout)
        view = api.get(f"/v1/nodes/{other}")
        self.assertFalse(view["evacuating"])
        self.assertNotIn("evacuation", view)
        self.assertIn(other, {r["node"] for r in self.cluster.volume("ev")["replicas"]})

        with self.assertRaises(ApiError) as e:
            api.call("POST", "/v1/nodes/no-such-node/evacuate")
        self.assertEqual(e.exception.status, 404)
