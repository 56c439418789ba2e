"""A resource-group change that moves the primary (PATCH /v1/volumes/{v} {resource_group}, Cinder's
retype), with real node workers: the new group allows none of the volume's nodes, so the new
replicas are placed and synced, the primary is handed over to one of them, and only then are the
old replicas deleted. Detached, the volume's bytes (sha256) are the same before and after; attached
as a block device (needs root and /dev/fuse), the attachment keeps working across the move with a
writer running, and the primary lands on the attached host."""

import hashlib
import os
import subprocess
import unittest

from clusterfixture import ApiError, ClusterTestCase, run, wait_for
from test_attachments import FsyncWriter, attach_block_device

MiB = 1 << 20
OLD = {"old1": "1", "old2": "2"}
NEW = {"new1": "1", "new2": "2"}


def sha256_of_volume(uri, size, scratch):
    """The sha256 of `size` bytes read from the NBD export `uri` by qemu-img."""
    run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, scratch)
    with open(scratch, "rb") as f:
        data = f.read()
    os.unlink(scratch)
    assert len(data) == size, (len(data), size)
    return hashlib.sha256(data).hexdigest()


class RegroupTest(ClusterTestCase):
    nodes = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name, rack in OLD.items():
            cls.cluster.start_node(name, [f"--label=oldrack={rack}"])
        for name, rack in NEW.items():
            cls.cluster.start_node(name, [f"--label=newrack={rack}"])
        wait_for("four nodes online", lambda: cls.cluster.online_nodes() == 4, 30)
        api = cls.cluster.api
        api.post("/v1/resource-groups", {"name": "old", "replicas": 2, "replicas_on_different": ["oldrack"]})
        api.post("/v1/resource-groups", {"name": "new", "replicas": 2, "replicas_on_different": ["newrack"]})

    def backing_gone(self, node, uuid):
        return not any(e.startswith(uuid) for e in os.listdir(self.cluster.pool_dir(node)))

    def move(self, name):
        """PATCHes volume `name` into group "new" and waits until the move is over; returns the
        final view. Checks the intermediate state the PATCH answers."""
        before = self.cluster.volume(name)
        self.assertIn(before["primary_node"], OLD)
        status, patched = self.cluster.api.call("PATCH", f"/v1/volumes/{name}", {"resource_group": "new"})
        self.assertEqual(status, 200, patched)
        self.assertEqual(patched["resource_group"], "new")
        self.assertEqual(patched["primary_node"], before["primary_node"], "the primary moves later")
        leaving = {r["node"]: r["leaving"] for r in patched["replicas"]}
        self.assertEqual(leaving, {"old1": True, "old2": True, "new1": False, "new2": False}, patched)
        status, again = self.cluster.api.call("PATCH", f"/v1/volumes/{name}", {"resource_group": "new"})
        self.assertEqual(status, 200, "the same group again changes nothing")

        def moved():
            v = self.cluster.volume(name)
            nodes = sorted(r["node"] for r in v["replicas"])
            return v if nodes == ["new1", "new2"] and v["state"] in ("available", "attached") else None
        final = wait_for(f"{name} on the new group's nodes", moved, 180)
        self.assertIn(final["primary_node"], NEW)
        self.assertEqual(final["epoch"], before["epoch"] + 1, "one planned handover")
        self.assertFalse(any(r["leaving"] for r in final["replicas"]))
        for node in OLD:
            wait_for(f"{node}'s copy deleted", lambda: self.backing_gone(node, final["uuid"]), 30)
        return final

    def test_detached_volume_moves_with_its_bytes(self):
        vol = self.available_volume("det", 48 * MiB, group="old")
        self.assertEqual(sorted(r["node"] for r in vol["replicas"]), ["old1", "old2"])
        source = os.path.join(self.tmp, "det.src")
        with open(source, "wb") as f:
            for i in range(48):
                f.write(os.urandom(MiB) if i % 3 else bytes(MiB))  # data and holes
        run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source, vol["nbd_uri"])
        with open(source, "rb") as f:
            expected = hashlib.sha256(f.read()).hexdigest()
        scratch = os.path.join(self.tmp, "det.read")
        self.assertEqual(sha256_of_volume(vol["nbd_uri"], 48 * MiB, scratch), expected)

        final = self.move("det")
        self.assertEqual(final["state"], "available")
        self.assertEqual(sha256_of_volume(final["nbd_uri"], 48 * MiB, scratch), expected, "nothing lost")
        self.assert_replicas_identical(final, 2)
        # The old primary no longer serves it.
        p = run("qemu-io", "-f", "raw", "-c", "read 0 4k", vol["nbd_uri"], check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)

    @unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/dev/fuse"), "needs root and /dev/fuse")
    def test_attached_volume_keeps_its_attachment_and_the_primary_follows_it(self):
        vol = self.available_volume("att", 32 * MiB, group="old")
        host = "new2"  # no replica yet: served over NBD from the old primary
        dev, leave_nothing_behind = attach_block_device(self, "att", host)
        payload = os.urandom(16 * MiB)
        with open(dev, "r+b", buffering=0) as f:
            f.write(payload)
            os.fsync(f.fileno())
        expected = hashlib.sha256(payload).hexdigest()

        with FsyncWriter(dev, 20 * MiB) as writer:
            final = self.move("att")
            at = len(writer.acked)
            wait_for("writes after the move", lambda: len(writer.acked) >= min(at + 8, 64) or writer.failures, 60)
        self.assertEqual(writer.failures, [])
        self.assertEqual(final["primary_node"], host, "the primary lands on the attached host")
        self.assertEqual(final["attached_hosts"], [host])
        region = subprocess.run(["dd", f"if={dev}", "iflag=direct", "bs=1M", "count=24", "status=none"],
                                capture_output=True, check=True).stdout
        self.assertEqual(hashlib.sha256(region[:16 * MiB]).hexdigest(), expected, "nothing lost")
        writer.check(self, region[20 * MiB:24 * MiB])
        status, _ = self.cluster.api.call("DELETE", f"/v1/volumes/att/attachments/{host}")
        self.assertEqual(status, 204)
        leave_nothing_behind()
        self.assert_replicas_identical(self.cluster.wait_volume_state("att", "available"), 2)

    def test_snapshot_copies_are_exactly_the_holders_and_the_last_copy_is_never_dropped(self):
        # A snapshot's copies are the replicas that hold it: removing a replica drops its copy,
        # an added replica gets none (snapshots are not copied to new replicas); a change that
        # would drop the last copy is refused; revert and clone work while one copy remains, and
        # are precise errors once no online copy is left.
        api = self.cluster.api
        vol = self.available_volume("snapvol", 8 * MiB, group="old")
        primary = vol["primary_node"]
        secondary = next(r["node"] for r in vol["replicas"] if not r["primary"])
        self.qemu_io(vol["nbd_uri"], "write -P 0x5a 0 8M")
        api.post("/v1/volumes/snapvol/snapshots", {"name": "keep"})

        def copies():
            return sorted(api.get("/v1/volumes/snapvol/snapshots/keep")["copies"])
        wait_for("keep on both replicas", lambda: copies() == sorted(OLD), 60)
        self.qemu_io(vol["nbd_uri"], "write -P 0x6b 0 8M")

        status, one = api.call("PATCH", "/v1/volumes/snapvol", {"replicas": 1})
        self.assertEqual(status, 200, one)
        wait_for("the removed replica's copy gone from the snapshot", lambda: copies() == [primary], 30)
        wait_for(f"{secondary}'s files deleted", lambda: self.backing_gone(secondary, vol["uuid"]), 30)

        # The group change would move the only copy's replica away: refused, nothing changed.
        with self.assertRaises(ApiError) as e:
            api.call("PATCH", "/v1/volumes/snapvol", {"resource_group": "new"})
        self.assertEqual((e.exception.status, e.exception.code), (409, "volume_has_snapshots"), e.exception.body)
        self.assertIn("'keep'", e.exception.body)
        self.assertIn(primary, e.exception.body)
        same = self.cluster.volume("snapvol")
        self.assertEqual((same["resource_group"], [r["node"] for r in same["replicas"]]), ("old", [primary]))

        status, two = api.call("PATCH", "/v1/volumes/snapvol", {"replicas": 2})
        self.assertEqual(status, 200, two)
        two = self.cluster.wait_volume_state("snapvol", "available", timeout=60)
        self.assertEqual(sorted(r["node"] for r in two["replicas"]), sorted(OLD))
        self.assertEqual(copies(), [primary], "the new replica holds no copy")
        snap_uuid = api.get("/v1/volumes/snapvol/snapshots/keep")["uuid"]
        self.assertFalse(any(snap_uuid in e for e in os.listdir(self.cluster.pool_dir(secondary))))

        # Revert (the primary holds the copy) and a clone from the remaining copy both work.
        status, _ = api.call("POST", "/v1/volumes/snapvol/snapshots/keep/revert", {})
        self.assertEqual(status, 200)
        reverted = self.cluster.wait_volume_state("snapvol", "available", timeout=120)
        self.qemu_io(reverted["nbd_uri"], "read -P 0x5a 0 8M")
        self.assert_replicas_identical(reverted, 2)
        api.post("/v1/volumes", {"name": "snapclone", "size_bytes": 8 * MiB, "resource_group": "old",
                                 "source": {"volume": "snapvol", "snapshot": "keep"}})
        clone = self.cluster.wait_volume_state("snapclone", "available", timeout=120)
        self.assertEqual(clone["primary_node"], primary, "made where the copy is")
        self.qemu_io(clone["nbd_uri"], "read -P 0x5a 0 8M")

        # No online copy left (its only holder's node is down): precise errors, nothing made.
        self.cluster.nodes[primary].kill9()
        self.addCleanup(lambda: self.cluster.nodes[primary].running() or self.cluster.start_node(
            primary, [f"--label=oldrack={OLD[primary]}"]))
        wait_for(f"{primary} offline", lambda: self.cluster.node_state(primary) == "offline", 30)
        with self.assertRaises(ApiError) as e:
            api.call("POST", "/v1/volumes", {"name": "nocopy", "size_bytes": 8 * MiB, "resource_group": "old",
                                             "source": {"volume": "snapvol", "snapshot": "keep"}})
        self.assertEqual(e.exception.status, 422, e.exception.body)
        self.assertIn("no online node holds a copy of snapshot 'keep'", e.exception.body)
        with self.assertRaises(ApiError) as e:
            api.call("POST", "/v1/volumes/snapvol/snapshots/keep/revert", {})
        self.assertEqual((e.exception.status, e.exception.code), (409, "node_offline"), e.exception.body)
        self.assertNotIn("nocopy", [v["name"] for v in api.get("/v1/volumes")["volumes"]])
