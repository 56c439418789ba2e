"""A primary cut off from the network (not down), with hosts in network namespaces and a writer on
the primary's own host, as a VM there would be.

Guards issue 8, hole 6. Without quorum the controller cannot tell a dead primary from a cut-off
one, so promotion must require force; and the cut-off primary, which went on acknowledging its
local writer's writes after the promotion, must not be resynced over silently when it returns:
the volume is `split_brain` until an operator resolves it (`keep`). With `quorum: majority` the
cut-off primary refuses writes, promotion needs no force, and every acknowledged write survives."""

from clusterfixture import ApiError, ClusterTestCase, run, wait_for

MiB = 1 << 20
PEER_TIMEOUT_S = 2


class PartitionedPrimaryTest(ClusterTestCase):
    network_namespaces = True
    node_args = (f"--peer-timeout={PEER_TIMEOUT_S}s",)

    def qemu_io_on(self, host, uri, *commands, check=True):
        """qemu-io run on `host` (inside its namespace): a client local to that host."""
        argv = [*self.network.wrap(host), "qemu-io", "-f", "raw", "-t", "none"]
        for c in commands:
            argv += ["-c", c]
        p = run(*argv, uri, check=check)
        if check:
            self.assertNotIn("failed", p.stdout + p.stderr, p.stdout + p.stderr)
        return p

    def cut_off(self, host):
        self.network.cut(host)
        self.addCleanup(self.network.heal, host)
        wait_for(f"{host} offline", lambda: self.cluster.node_state(host) == "offline", 30)

    def volume_on_cut_off_primary(self, name, group, quorum, first_write):
        """A 3-replica volume in a new group `group` with `quorum`, written by a client on its
        primary's host, whose host is then cut off. Returns (old primary, its URI, a secondary)."""
        self.cluster.api.post("/v1/resource-groups", {"name": group, "replicas": 3, "quorum": quorum})
        vol = self.available_volume(name, 32 * MiB, group=group)
        old, uri = vol["primary_node"], vol["nbd_uri"]
        target = next(r["node"] for r in vol["replicas"] if not r["primary"])
        self.qemu_io_on(old, uri, first_write)
        self.cut_off(old)
        return old, uri, target

    def serving(self, promoted, node):
        """The promoted volume's new NBD URI, once `node` exports it."""
        uri = promoted["nbd_uri"]
        wait_for("the new primary exports the volume",
                 lambda: self.qemu_io_on(node, uri, "read 0 4k", check=False).returncode == 0, 30)
        return uri

    def replica_state(self, vol, node):
        return next(r["state"] for r in vol["replicas"] if r["node"] == node)

    def test_without_quorum_promotion_needs_force_and_the_return_is_split_brain(self):
        api = self.cluster.api
        old, uri, target = self.volume_on_cut_off_primary("sb", "loose", "off", "write -P 0x41 0 4M")
        # The cut-off primary drops its peers and acknowledges its local writer alone.
        self.qemu_io_on(old, uri, "write -P 0x42 4M 4M")

        with self.assertRaises(ApiError) as refused:
            api.post("/v1/volumes/sb/promote", {"node": target})
        self.assertEqual((refused.exception.status, refused.exception.code), (409, "promotion_unsafe"))
        self.assertIn("quorum", refused.exception.body)
        self.assertIn("cut off", refused.exception.body)
        promoted = api.post("/v1/volumes/sb/promote", {"node": target, "force": True})
        self.assertEqual((promoted["primary_node"], promoted["epoch"]), (target, 2))
        new_uri = self.serving(promoted, target)
        self.qemu_io_on(target, new_uri, "write -P 0x43 8M 4M")
        # Meanwhile the old primary still acknowledges its local writer (it cannot know).
        self.qemu_io_on(old, uri, "write -P 0x44 12M 4M")

        self.network.heal(old)
        vol = wait_for("split brain reported",
                       lambda: (lambda v: v if v["state"] == "split_brain" else None)(self.cluster.volume("sb")), 120)
        self.assertIn(old, vol["reason"])
        self.assertEqual(self.replica_state(vol, old), "split_brain")
        # The old primary's copy is kept apart: its writes after the cut are still on its disk.
        with open(self.cluster.backing_file(old, vol["uuid"]), "rb") as f:
            f.seek(4 * MiB)
            self.assertEqual(f.read(4 * MiB), b"\x42" * (4 * MiB))
            f.seek(12 * MiB)
            self.assertEqual(f.read(4 * MiB), b"\x44" * (4 * MiB))
        # ... and the volume (the new primary) serves its own history only.
        self.qemu_io_on(target, new_uri, "read -P 0x41 0 4M", "read -P 0x00 4M 4M", "read -P 0x43 8M 4M",
                        "read -P 0x00 12M 4M")

        with self.assertRaises(ApiError) as bad:
            api.post("/v1/volumes/sb/resolve", {"keep": "nosuchnode"})
        self.assertEqual(bad.exception.status, 422)
        resolved = api.post("/v1/volumes/sb/resolve", {"keep": target})
        self.assertEqual(resolved["primary_node"], target)
        vol = self.cluster.wait_volume_state("sb", "available", timeout=120)
        self.assert_replicas_identical(vol)
        self.qemu_io_on(target, new_uri, "read -P 0x41 0 4M", "read -P 0x00 4M 4M", "read -P 0x43 8M 4M")

    def test_with_quorum_the_cut_off_primary_refuses_and_promotion_keeps_every_write(self):
        api = self.cluster.api
        old, uri, target = self.volume_on_cut_off_primary("qv", "safe", "majority", "write -P 0x51 0 4M")
        p = self.qemu_io_on(old, uri, "write -P 0x52 4M 1M", check=False)
        self.assertIn("Input/output error", p.stdout + p.stderr)

        promoted = api.post("/v1/volumes/qv/promote", {"node": target})
        self.assertEqual(promoted["primary_node"], target)
        new_uri = self.serving(promoted, target)
        self.qemu_io_on(target, new_uri, "read -P 0x51 0 4M", "write -P 0x53 8M 1M")

        self.network.heal(old)
        vol = self.cluster.wait_volume_state("qv", "available", timeout=120)
        self.assertEqual(vol["primary_node"], target)
        self.assert_replicas_identical(vol)
        self.qemu_io_on(target, new_uri, "read -P 0x51 0 4M", "read -P 0x53 8M 1M")
