"""Volumes made from a snapshot (POST /v1/volumes with source {volume, snapshot}), on real
processes: the primary clones the snapshot where a copy is, the other replicas are synced from it,
the volume is `creating` until all have the data, and then every replica reads the snapshot's
bytes (the larger new volume reads zeroes past them) — not what the source was written after."""

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20


class VolumeFromSnapshotTest(ClusterTestCase):
    def test_volume_from_snapshot_reads_the_snapshots_bytes(self):
        vol = self.available_volume("origin", 16 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x5a 0 8M", "write -P 0x5b 8M 8M")
        self.cluster.api.post("/v1/volumes/origin/snapshots", {"name": "origin-s1"})
        wait_for("origin-s1 on every replica", lambda: len(
            self.cluster.api.get("/v1/volumes/origin/snapshots/origin-s1")["copies"]) == 3, 60)
        self.qemu_io(uri, "write -P 0x77 0 16M")  # after the snapshot: must not show in the copy

        body = {"name": "copy", "size_bytes": 32 * MiB, "resource_group": "r3",
                "source": {"volume": "origin", "snapshot": "origin-s1"}}
        status, made = self.cluster.api.call("POST", "/v1/volumes", body)
        self.assertEqual(status, 201)
        self.assertEqual(made["state"], "creating")
        primary = made["primary_node"]
        origin_nodes = {r["node"] for r in vol["replicas"]}
        self.assertIn(primary, origin_nodes, "the primary is where a copy of the snapshot is")
        status, again = self.cluster.api.call("POST", "/v1/volumes", body)
        self.assertEqual((status, again["uuid"]), (200, made["uuid"]))

        copy = self.cluster.wait_volume_state("copy", "available", timeout=120)
        self.assertEqual(copy["size_bytes"], 32 * MiB)
        self.qemu_io(copy["nbd_uri"], "read -P 0x5a 0 8M", "read -P 0x5b 8M 8M", "read -P 0 16M 16M")
        self.assert_replicas_identical(copy)
        # The source is untouched by its copy, and the copy by later writes to the source.
        self.qemu_io(uri, "read -P 0x77 0 16M")
        self.qemu_io(copy["nbd_uri"], "write -P 0x33 0 1M")
        self.qemu_io(uri, "read -P 0x77 0 1M")

    def test_clone_of_a_live_volume_while_it_is_written(self):
        # source {volume}: the controller snapshots the live volume (crash-consistent), answers
        # once the primary has taken it, and makes the clone from it; the clone reads what was
        # acknowledged before the request, never what is written after the answer; the
        # snapshot it was made from goes once the clone has its data.
        vol = self.available_volume("live", 16 * MiB)
        self.qemu_io(vol["nbd_uri"], "write -P 0x41 0 16M")
        # Keeps the second half busy while the clone is asked for.
        writer = self.FuaWriter(vol["nbd_uri"], lambda i: 8 * MiB + (i % 8) * MiB, lambda i: 0x60 + i % 16)
        try:
            body = {"name": "live-clone", "size_bytes": 24 * MiB, "resource_group": "r3",
                    "source": {"volume": "live"}}
            status, made = self.cluster.api.call("POST", "/v1/volumes", body)
            self.assertEqual(status, 201, made)
            self.assertEqual(made["state"], "creating")
            status, again = self.cluster.api.call("POST", "/v1/volumes", body)
            self.assertEqual((status, again["uuid"]), (200, made["uuid"]))
            self.qemu_io(vol["nbd_uri"], "write -P 0x42 0 8M")  # after the answer: not in the clone
        finally:
            writer.stop()
        self.assertEqual(writer.errors, [])
        clone = self.cluster.wait_volume_state("live-clone", "available", timeout=120)
        self.qemu_io(clone["nbd_uri"], "read -P 0x41 0 8M", "read -P 0 16M 8M")
        self.assert_replicas_identical(clone)
        wait_for("the clone's snapshot of the source to go", lambda: self.cluster.api.get(
            "/v1/volumes/live/snapshots")["snapshots"] == [], 60)
        self.qemu_io(vol["nbd_uri"], "read -P 0x42 0 8M")

    def test_bad_sources_are_precise(self):
        self.available_volume("base", 8 * MiB)
        status, _ = self.cluster.api.call("POST", "/v1/volumes/base/snapshots", {"name": "base-s1"})
        self.assertEqual(status, 201)
        wait_for("base-s1 available", lambda: self.cluster.api.get(
            "/v1/volumes/base/snapshots/base-s1")["state"] == "available", 60)

        def create(name, size, source):
            return {"name": name, "size_bytes": size, "resource_group": "r3", "source": source}
        cases = [
            (create("c1", 8 * MiB, {"volume": "nosuch", "snapshot": "base-s1"}), 404, "volume_not_found"),
            (create("c2", 8 * MiB, {"volume": "base", "snapshot": "nosuch"}), 404, "snapshot_not_found"),
            (create("c3", 4 * MiB, {"volume": "base", "snapshot": "base-s1"}), 422, "volume_too_small"),
            (create("c4", 4 * MiB, {"volume": "base"}), 422, "volume_too_small"),
            (create("c7", 8 * MiB, {"volume": "nosuch"}), 404, "volume_not_found"),
            (create("c8", 1 << 50, {"volume": "base", "snapshot": "base-s1"}), 422, "volume_too_large"),  # 1 PiB
            (create("c9", 1 << 50, {"volume": "base"}), 422, "volume_too_large"),
            (create("c5", 8 * MiB, {"snapshot": "base-s1"}), 400, "missing_field"),
            (create("c6", 8 * MiB, {"volume": "base", "snapshot": "base-s1", "x": 1}), 400, "unknown_field"),
        ]
        for body, status, code in cases:
            with self.assertRaises(ApiError, msg=body) as e:
                self.cluster.api.call("POST", "/v1/volumes", body)
            self.assertEqual((e.exception.status, e.exception.code), (status, code), e.exception.body)
        self.assertEqual([s["name"] for s in self.cluster.api.get("/v1/volumes/base/snapshots")["snapshots"]],
                         ["base-s1"], "a refused clone leaves no snapshot behind")
        names = [v["name"] for v in self.cluster.api.get("/v1/volumes")["volumes"]]
        self.assertFalse(any(n.startswith("c") and len(n) == 2 for n in names), names)
