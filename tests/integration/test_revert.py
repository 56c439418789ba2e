"""Revert (POST /v1/volumes/{v}/snapshots/{s}/revert) on real processes: the volume returns to the
snapshot on every replica (the primary reverts, the others are fully synced from it), newer
snapshots stay, and bad requests change nothing."""

import os

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20


class RevertTest(ClusterTestCase):
    def wait_snapshot(self, volume, name):
        return wait_for(f"{name} on every replica", lambda: (lambda s: s if s["state"] == "available" and len(
            s["copies"]) == 3 else None)(self.cluster.api.get(f"/v1/volumes/{volume}/snapshots/{name}")), 60)

    def test_revert_returns_every_replica_to_the_snapshot(self):
        vol = self.available_volume("rev", 16 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x21 0 16M")
        self.cluster.api.post("/v1/volumes/rev/snapshots", {"name": "rev-old"})
        self.wait_snapshot("rev", "rev-old")
        self.qemu_io(uri, "write -P 0x42 0 8M")
        self.cluster.api.post("/v1/volumes/rev/snapshots", {"name": "rev-new"})
        newer = self.wait_snapshot("rev", "rev-new")
        self.qemu_io(uri, "write -P 0x63 4M 8M")

        status, view = self.cluster.api.call("POST", "/v1/volumes/rev/snapshots/rev-old/revert", {})
        self.assertEqual(status, 200)
        self.assertEqual(view["name"], "rev")
        vol = self.cluster.wait_volume_state("rev", "available", timeout=120)
        self.qemu_io(vol["nbd_uri"], "read -P 0x21 0 16M")
        self.assert_replicas_identical(vol)
        # The newer snapshot stays, on every node, and can be reverted to in turn.
        names = [s["name"] for s in self.cluster.api.get("/v1/volumes/rev/snapshots")["snapshots"]]
        self.assertEqual(sorted(names), ["rev-new", "rev-old"])
        for r in vol["replicas"]:
            path = os.path.join(self.cluster.pool_dir(r["node"]), f"{vol['uuid']}@{newer['uuid']}.img")
            self.assertTrue(os.path.exists(path), path)
        self.cluster.api.call("POST", "/v1/volumes/rev/snapshots/rev-new/revert")
        vol = self.cluster.wait_volume_state("rev", "available", timeout=120)
        self.qemu_io(vol["nbd_uri"], "read -P 0x42 0 8M", "read -P 0x21 8M 8M")
        self.assert_replicas_identical(vol)

    def test_bad_reverts_change_nothing(self):
        self.available_volume("keep", 8 * MiB)
        self.available_volume("else", 8 * MiB)
        vol = self.cluster.volume("keep")
        self.qemu_io(vol["nbd_uri"], "write -P 0x11 0 8M")
        self.cluster.api.post("/v1/volumes/keep/snapshots", {"name": "keep-s1"})
        self.wait_snapshot("keep", "keep-s1")
        self.qemu_io(vol["nbd_uri"], "write -P 0x12 0 8M")
        cases = [
            ("/v1/volumes/nosuch/snapshots/keep-s1/revert", {}, 404, "volume_not_found"),
            ("/v1/volumes/keep/snapshots/nosuch/revert", {}, 404, "snapshot_not_found"),
            ("/v1/volumes/else/snapshots/keep-s1/revert", {}, 404, "snapshot_not_found"),
            ("/v1/volumes/keep/snapshots/keep-s1/revert", {"force": True}, 400, "unknown_field"),
        ]
        for path, body, status, code in cases:
            with self.assertRaises(ApiError, msg=path) as e:
                self.cluster.api.call("POST", path, body)
            self.assertEqual((e.exception.status, e.exception.code), (status, code), e.exception.body)
        self.assertEqual(self.cluster.volume("keep")["state"], "available")
        # Attached (here as an NBD attachment: nothing is made on the host): 409, nothing reverted.
        host = vol["replicas"][0]["node"]
        self.cluster.api.post("/v1/volumes/keep/attachments", {"host": host, "mode": "nbd"})
        with self.assertRaises(ApiError) as e:
            self.cluster.api.call("POST", "/v1/volumes/keep/snapshots/keep-s1/revert", {})
        self.assertEqual((e.exception.status, e.exception.code), (409, "volume_attached"), e.exception.body)
        self.cluster.api.call("DELETE", f"/v1/volumes/keep/attachments/{host}")
        self.assertEqual(self.cluster.volume("keep")["state"], "available")
        self.qemu_io(vol["nbd_uri"], "read -P 0x12 0 8M")
