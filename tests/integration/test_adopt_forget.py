"""Adopt and forget (Cinder's manage_existing / unmanage) and replica-count changes, with real
node workers and NBD clients: a file with known data becomes a volume that reads it over NBD,
grows to three byte-identical replicas, shrinks to two, and is forgotten with its data left on
disk under its old name. Every refusal is a precise error with nothing made or changed, and a
replica change while a writer writes loses no acknowledged write."""

import json
import os

from clusterfixture import ApiError, ClusterTestCase, run, wait_for

MiB = 1 << 20


def pattern_of(i):
    """The byte of MiB `i` of the adopted file."""
    return 0x10 + i


class AdoptForgetTest(ClusterTestCase):
    nodes = 3

    def setUp(self):
        for g, n in (("r1", 1), ("r2", 2), ("r3", 3)):
            self.cluster.api.post("/v1/resource-groups", {"name": g, "replicas": n})

    def write_backing(self, node, name, mib):
        """A file-pool backing volume <pool>/<name>.img of `mib` MiB, MiB i filled with pattern_of(i)."""
        path = os.path.join(self.cluster.pool_dir(node), name + ".img")
        # Written aside and renamed into place: a heartbeat must never see it half written.
        with open(path + ".partial", "wb") as f:
            for i in range(mib):
                f.write(bytes([pattern_of(i)]) * MiB)
            f.flush()
            os.fsync(f.fileno())
        os.rename(path + ".partial", path)
        return path

    def adopt(self, volume, body):
        return self.cluster.api.call("POST", f"/v1/volumes/{volume}/adopt", body)

    def refused(self, method, path, body, status, code):
        with self.assertRaises(ApiError, msg=f"{method} {path} {body}") as e:
            self.cluster.api.call(method, path, body)
        self.assertEqual((e.exception.status, e.exception.code), (status, code), e.exception.body)
        return e.exception

    def wait_reported(self, node, backing, group="r1", pending=("backing_not_found",)):
        """Waits until `node`'s heartbeat lists the backing volume (a dry run answers 200; the
        `pending` error codes mean "not yet")."""
        def reported():
            try:
                return self.adopt("probe", {"node": node, "pool": "default", "backing_name": backing,
                                            "resource_group": group, "dry_run": True})[1]
            except ApiError as e:
                if e.code not in pending:
                    raise
                return None
        return wait_for(f"{node} reporting {backing}", reported, 30)

    def volume_names(self):
        return sorted(v["name"] for v in self.cluster.api.get("/v1/volumes")["volumes"])

    def test_adopt_grow_shrink_forget_round_trip(self):
        path = self.write_backing("node1", "legacy", 16)
        dry = self.wait_reported("node1", "legacy", "r3")
        self.assertEqual(dry["size_bytes"], 16 * MiB)
        self.assertNotIn("probe", self.volume_names(), "a dry run made a volume")

        status, vol = self.adopt("kept", {"node": "node1", "pool": "default", "backing_name": "legacy",
                                          "resource_group": "r3"})
        self.assertEqual(status, 201)
        self.assertEqual((vol["size_bytes"], vol["primary_node"], len(vol["replicas"])), (16 * MiB, "node1", 1))
        status, again = self.adopt("kept", {"node": "node1", "pool": "default", "backing_name": "legacy",
                                            "resource_group": "r3"})
        self.assertEqual((status, again["uuid"]), (200, vol["uuid"]), "adopt is idempotent by name")
        vol = self.cluster.wait_volume_state("kept", "available", timeout=60)
        self.assertFalse(os.path.exists(path), "the node keeps the adopted file under the volume's uuid")
        uri = vol["nbd_uri"]
        self.qemu_io(uri, *[f"read -P {pattern_of(i)} {i}M 1M" for i in range(16)])
        self.qemu_io(uri, "write -P 0x77 15M 1M")

        status, three = self.cluster.api.call("PATCH", "/v1/volumes/kept", {"replicas": 3})
        self.assertEqual((status, len(three["replicas"])), (200, 3))
        self.assertEqual(three["primary_node"], "node1")
        vol = self.cluster.wait_volume_state("kept", "available", timeout=60)
        self.assertEqual(sorted(r["node"] for r in vol["replicas"]), ["node1", "node2", "node3"])
        self.assert_replicas_identical(vol, 3)

        status, two = self.cluster.api.call("PATCH", "/v1/volumes/kept", {"replicas": 2})
        self.assertEqual((status, len(two["replicas"])), (200, 2))
        kept_nodes = {r["node"] for r in two["replicas"]}
        self.assertIn("node1", kept_nodes, "the primary stays")
        gone = ({"node1", "node2", "node3"} - kept_nodes).pop()
        wait_for(f"{gone}'s copy deleted", lambda: not any(
            e.startswith(vol["uuid"]) for e in os.listdir(self.cluster.pool_dir(gone))), 30)
        vol = self.cluster.wait_volume_state("kept", "available", timeout=60)
        self.assert_replicas_identical(vol, 2)
        secondary = (kept_nodes - {"node1"}).pop()

        status, forgotten = self.cluster.api.call("POST", "/v1/volumes/kept/forget", {})
        self.assertEqual(status, 200)
        self.assertEqual((forgotten["node"], forgotten["pool"], forgotten["backing_name"]),
                         ("node1", "default", "legacy"))
        self.assertEqual(forgotten["backing_path"], os.path.abspath(path))
        self.refused("GET", "/v1/volumes/kept", None, 404, "volume_not_found")
        self.refused("POST", "/v1/volumes/kept/forget", {}, 404, "volume_not_found")
        wait_for("the data back under its old name", lambda: os.path.exists(path), 30)
        metadata = os.path.join(self.cluster.node_dir("node1"), "replicas", vol["uuid"] + ".meta")
        wait_for("the engine's metadata deleted", lambda: not os.path.exists(metadata), 30)
        wait_for(f"{secondary}'s copy deleted", lambda: not any(
            e.startswith(vol["uuid"]) for e in os.listdir(self.cluster.pool_dir(secondary))), 30)
        self.assertFalse(any(e.startswith(vol["uuid"]) for e in os.listdir(self.cluster.pool_dir("node1"))))
        with open(path, "rb") as f:
            for i in range(16):
                expected = 0x77 if i == 15 else pattern_of(i)
                self.assertEqual(f.read(MiB), bytes([expected]) * MiB, f"MiB {i} of the forgotten file")
        # Released, it can be adopted again: once the node has reported the release done (409
        # backing_managed until then) it lists the file as unmanaged once more.
        self.wait_reported("node1", "legacy", pending=("backing_managed",))

    def test_refusals_make_nothing(self):
        self.write_backing("node2", "spare", 4)
        with open(os.path.join(self.cluster.pool_dir("node2"), "odd.img"), "wb") as f:
            f.write(b"x" * 1000)
        self.wait_reported("node2", "spare")
        self.available_volume("taken", 4 * MiB, replicas=1, group="r1")
        before = self.volume_names()
        base = {"node": "node2", "pool": "default", "backing_name": "spare", "resource_group": "r1"}
        cases = [
            ({"node": "nosuch"}, 404, "node_not_found"),
            ({"pool": "nosuch"}, 404, "pool_not_found"),
            ({"backing_name": "missing"}, 404, "backing_not_found"),
            ({"backing_name": "../etc"}, 400, "invalid_field"),
            ({"backing_name": "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11"}, 409, "backing_managed"),
            ({"resource_group": "nosuch"}, 404, "resource_group_not_found"),
            ({"backing_name": "odd"}, 422, "invalid_backing_size"),
        ]
        for change, status, code in cases:
            self.refused("POST", "/v1/volumes/new/adopt", {**base, **change}, status, code)
        self.refused("POST", "/v1/volumes/taken/adopt", base, 409, "volume_exists")
        self.assertEqual(self.volume_names(), before)
        self.assertTrue(os.path.exists(os.path.join(self.cluster.pool_dir("node2"), "spare.img")))

        # A backing volume Tandem manages: while being adopted, and once adopted (under its uuid).
        status, first = self.adopt("first", base)
        self.assertEqual(status, 201)
        try:
            self.refused("POST", "/v1/volumes/second/adopt", base, 409, "backing_managed")
        except AssertionError:
            # The node may have taken it already: then it is no longer listed under that name.
            self.refused("POST", "/v1/volumes/second/adopt", base, 404, "backing_not_found")
        first = self.cluster.wait_volume_state("first", "available", timeout=60)
        self.refused("POST", "/v1/volumes/second/adopt", {**base, "backing_name": first["uuid"]}, 409,
                     "backing_managed")

        # Forget: not while attached or with snapshots; nothing changes.
        self.cluster.api.post("/v1/volumes/first/attachments", {"host": "node2", "mode": "nbd"})
        self.refused("POST", "/v1/volumes/first/forget", {}, 409, "volume_attached")
        self.cluster.api.call("DELETE", "/v1/volumes/first/attachments/node2")
        self.cluster.api.post("/v1/volumes/first/snapshots", {"name": "s1"})
        self.refused("POST", "/v1/volumes/first/forget", {}, 409, "volume_has_snapshots")
        self.refused("POST", "/v1/volumes/first/forget", {"keep": True}, 400, "unknown_field")
        self.assertEqual(self.cluster.volume("first")["uuid"], first["uuid"])
        self.cluster.api.call("DELETE", "/v1/volumes/first/snapshots/s1")
        self.refused("POST", "/v1/volumes/nosuch/forget", {}, 404, "volume_not_found")

        # PATCH: more replicas than nodes, with a grow: neither is applied.
        self.refused("PATCH", "/v1/volumes/first", {"replicas": 4, "size_bytes": 8 * MiB}, 422, "not_enough_nodes")
        self.refused("PATCH", "/v1/volumes/first", {"resource_group": "nosuch"}, 404, "resource_group_not_found")
        after = self.cluster.volume("first")
        self.assertEqual((after["size_bytes"], len(after["replicas"]), after["resource_group"]), (4 * MiB, 1, "r1"))

        # A group change (retype) with more replicas: one PATCH.
        status, moved = self.cluster.api.call("PATCH", "/v1/volumes/first", {"resource_group": "r2", "replicas": 2})
        self.assertEqual((status, moved["resource_group"], len(moved["replicas"])), (200, "r2", 2))
        vol = self.cluster.wait_volume_state("first", "available", timeout=60)
        self.assert_replicas_identical(vol, 2)

    def test_replica_change_while_writing(self):
        vol = self.available_volume("busy", 32 * MiB, replicas=2, group="r2")
        uri = vol["nbd_uri"]
        writer = self.FuaWriter(uri, lambda i: (i * 7 % 32) * MiB, lambda i: 0x20 + i % 64)
        try:
            wait_for("a first write", lambda: writer.acknowledged or writer.errors, 60)
            status, three = self.cluster.api.call("PATCH", "/v1/volumes/busy", {"replicas": 3})
            self.assertEqual((status, len(three["replicas"])), (200, 3))
            wait_for("three replicas up to date", lambda: all(
                r["state"] == "up_to_date" for r in self.cluster.volume("busy")["replicas"]) or writer.errors, 120)
            at = len(writer.acknowledged)
            wait_for("writes after the sync", lambda: len(writer.acknowledged) >= at + 3 or writer.errors, 60)
            status, two = self.cluster.api.call("PATCH", "/v1/volumes/busy", {"replicas": 2})
            self.assertEqual((status, len(two["replicas"])), (200, 2))
            at = len(writer.acknowledged)
            wait_for("writes after the removal", lambda: len(writer.acknowledged) >= at + 3 or writer.errors, 60)
        finally:
            writer.stop()
        self.assertEqual(writer.errors, [])
        last = {}
        for offset, pattern in writer.acknowledged:
            last[offset] = pattern
        self.qemu_io(uri, *[f"read -P {p} {o} 1M" for o, p in sorted(last.items())])
        vol = self.cluster.wait_volume_state("busy", "available", timeout=60)
        self.assert_replicas_identical(vol, 2)


class AdoptCliTest(ClusterTestCase):
    """The CLI verbs over the same routes (--json prints the server's answer)."""
    nodes = 1

    def tandem(self, *args, check=True):
        return run(os.path.join(self.cluster.bin_dir, "tandem"), f"--url={self.cluster.url}",
                   f"--token={self.cluster.token}", f"--ca-file={self.cluster.ca}", *args, check=check)

    def test_cli_adopt_update_forget(self):
        self.cluster.api.post("/v1/resource-groups", {"name": "r1", "replicas": 1})
        path = os.path.join(self.cluster.pool_dir("node1"), "disk.img")
        with open(path, "wb") as f:
            f.write(b"\x42" * (2 * MiB))

        def dry():
            p = self.tandem("--json", "volume", "adopt", "cli", "--node", "node1", "--pool", "default", "--backing",
                            "disk", "--group", "r1", "--dry-run", check=False)
            return p.returncode == 0 and json.loads(p.stdout)
        self.assertEqual(wait_for("the backing reported", dry, 30)["size_bytes"], 2 * MiB)
        out = self.tandem("volume", "adopt", "cli", "--node", "node1", "--pool", "default", "--backing", "disk",
                          "--group", "r1").stdout
        self.assertIn("adopted disk of node1/default as volume 'cli'", out)
        self.cluster.wait_volume_state("cli", "available", timeout=60)
        out = self.tandem("volume", "update", "cli", "--size", "4MiB").stdout
        self.assertIn("updated volume 'cli'", out)
        out = self.tandem("--json", "volume", "forget", "cli").stdout
        self.assertEqual(json.loads(out)["backing_path"], os.path.abspath(path))
        wait_for("the file back", lambda: os.path.exists(path) and os.path.getsize(path) == 4 * MiB, 30)
