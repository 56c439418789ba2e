"""Crash-consistent snapshots through the API, on real processes: a snapshot taken while an NBD
client keeps writing is byte-identical on every replica and holds every write acknowledged before
it was asked for; bad requests are precise errors; a volume with snapshots is deleted only with
cascade, and deleting a snapshot removes every copy."""

import filecmp
import os

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20


class SnapshotTest(ClusterTestCase):
    def snapshot_files(self, volume, snapshot):
        files = []
        for r in volume["replicas"]:
            path = os.path.join(self.cluster.pool_dir(r["node"]), f"{volume['uuid']}@{snapshot['uuid']}.img")
            if os.path.exists(path):
                files.append(path)
        return files

    def test_snapshot_while_writing_is_identical_on_every_replica(self):
        vol = self.available_volume("snapped", 32 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x11 0 32M", cache="writeback")
        self.qemu_io(uri, "flush", cache="writeback")
        # 1 MiB FUA writes over the whole volume until told to stop.
        writer = self.FuaWriter(uri, lambda i: (i * 7 % 32) * MiB, lambda i: 0x40 + i % 64)
        acknowledged, errors = writer.acknowledged, writer.errors
        try:
            wait_for("writes before the snapshot", lambda: len(acknowledged) >= 5 or errors, 60)
            before = list(acknowledged)
            status, snap = self.cluster.api.call("POST", "/v1/volumes/snapped/snapshots", {"name": "snap-1"})
            self.assertEqual(status, 201)
            self.assertEqual((snap["name"], snap["volume"], snap["size_bytes"]), ("snap-1", "snapped", 32 * MiB))
            self.assertIn(snap["state"], ("creating", "available"))
            snap = wait_for("snap-1 available", lambda: (lambda s: s if s["state"] == "available" else None)(
                self.cluster.api.get("/v1/volumes/snapped/snapshots/snap-1")), 60)
            count = len(acknowledged)
            wait_for("writes after the snapshot", lambda: len(acknowledged) >= count + 3 or errors, 60)
        finally:
            writer.stop()
        self.assertEqual(errors, [])
        snap = wait_for("every copy reported", lambda: (lambda s: s if len(s["copies"]) == 3 else None)(
            self.cluster.api.get("/v1/volumes/snapped/snapshots/snap-1")), 30)
        self.assertEqual(sorted(snap["copies"]), sorted(r["node"] for r in vol["replicas"]))

        files = self.snapshot_files(vol, snap)
        self.assertEqual(len(files), 3, files)
        for f in files[1:]:
            self.assertTrue(filecmp.cmp(files[0], f, shallow=False), f"{files[0]} and {f} differ")
        # Every MiB written before the request holds that write or a later one, never older data.
        with open(files[0], "rb") as f:
            image = f.read()
        last_before = {}
        for offset, pattern in before:
            last_before[offset] = pattern
        for offset, pattern in last_before.items():
            later = {p for o, p in acknowledged[len(before):] if o == offset}
            got = image[offset]
            self.assertTrue(image[offset:offset + MiB] == bytes([got]) * MiB, f"MiB at {offset} is torn")
            self.assertIn(got, {pattern} | later, f"MiB at {offset}: {got:#x}, acknowledged {pattern:#x} before")
        self.assertEqual(self.cluster.api.get("/v1/volumes/snapped/snapshots")["snapshots"][0]["name"], "snap-1")

        # The same request again is 200 with the same snapshot.
        status, again = self.cluster.api.call("POST", "/v1/volumes/snapped/snapshots", {"name": "snap-1"})
        self.assertEqual((status, again["uuid"]), (200, snap["uuid"]))

        # Deleting the volume needs cascade while it has snapshots.
        with self.assertRaises(ApiError) as e:
            self.cluster.api.call("DELETE", "/v1/volumes/snapped")
        self.assertEqual((e.exception.status, e.exception.code), (409, "volume_has_snapshots"))
        status, _ = self.cluster.api.call("DELETE", "/v1/volumes/snapped/snapshots/snap-1")
        self.assertEqual(status, 204)
        wait_for("every snapshot copy removed", lambda: not self.snapshot_files(vol, snap), 30)
        self.cluster.api.call("DELETE", "/v1/volumes/snapped")

    def test_bad_requests_are_precise_and_cascade_deletes(self):
        vol = self.available_volume("source", 8 * MiB)
        self.available_volume("other", 8 * MiB)
        status, snap = self.cluster.api.call("POST", "/v1/volumes/source/snapshots", {"name": "s1"})
        self.assertEqual(status, 201)
        cases = [
            ("POST", "/v1/volumes/nosuch/snapshots", {"name": "s2"}, 404, "volume_not_found"),
            ("POST", "/v1/volumes/other/snapshots", {"name": "s1"}, 409, "snapshot_exists"),
            ("POST", "/v1/volumes/source/snapshots", {"name": "bad name"}, 400, "invalid_field"),
            ("POST", "/v1/volumes/source/snapshots", {}, 400, "missing_field"),
            ("GET", "/v1/volumes/other/snapshots/s1", None, 404, "snapshot_not_found"),
            ("GET", "/v1/volumes/nosuch/snapshots", None, 404, "volume_not_found"),
            ("DELETE", "/v1/volumes/source/snapshots/s9", None, 404, "snapshot_not_found"),
            ("DELETE", "/v1/volumes/source?cascade=maybe", None, 400, "invalid_query"),
        ]
        for method, path, body, status, code in cases:
            with self.assertRaises(ApiError, msg=f"{method} {path}") as e:
                self.cluster.api.call(method, path, body)
            self.assertEqual((e.exception.status, e.exception.code), (status, code), e.exception.body)
        snap = wait_for("s1 available", lambda: (lambda s: s if s["state"] == "available" else None)(
            self.cluster.api.get("/v1/volumes/source/snapshots/s1")), 60)
        wait_for("s1 on every replica", lambda: len(self.snapshot_files(vol, snap)) == 3, 30)
        status, _ = self.cluster.api.call("DELETE", "/v1/volumes/source?cascade=true")
        self.assertEqual(status, 204)
        pools = [self.cluster.pool_dir(r["node"]) for r in vol["replicas"]]
        wait_for("every file of the volume removed", lambda: not any(
            e.startswith(vol["uuid"]) for p in pools for e in os.listdir(p)), 30)
