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
            (create("c4", 8 * MiB, {"volume": "base"}), 422, "not_implemented"),
            (create("c5", 8 * MiB, {"snapshot": "base-s1"}), 400, "missing_field"),
            (create("c6", 8 * MiB, {"volume": "base", "snapshot": "base-s1", "x": 1}), 400, "unknown_field"),
        ]
        for body, status, code in cases:
            with self.assertRaises(ApiError, msg=body) as e:
                self.cluster.api.call("POST", "/v1/volumes", body)
            self.assertEqual((e.exception.status, e.exception.code), (status, code), e.exception.body)
        names = [v["name"] for v in self.cluster.api.get("/v1/volumes")["volumes"]]
        self.assertFalse(any(n.startswith("c") and len(n) == 2 for n in names), names)
