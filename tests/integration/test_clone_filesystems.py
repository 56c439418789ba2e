"""Volumes made from a snapshot, by file system (issue 10), on real processes and real file
systems: node1's pools live on a loop-mounted XFS (reflink=1) and ext4. On XFS the clone shares
the snapshot's extents (the file system's allocation does not grow by the data); on ext4 it is a
copy (it does); a replica on a node that holds no copy of the snapshot (node2) is synced from the
clone's primary. Every new volume reads the snapshot's bytes. Needs root (loop mounts)."""

import filecmp
import os
import shutil
import subprocess
import tempfile
import unittest

from clusterfixture import ClusterTestCase, wait_for

MiB = 1 << 20
DATA = 48 * MiB


def used_bytes(mount):
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@unittest.skipUnless(os.geteuid() == 0, "needs root (loop-mounted file systems)")
class CloneByFileSystemTest(ClusterTestCase):
    nodes = 1

    @classmethod
    def setUpClass(cls):
        cls.fs_root = tempfile.mkdtemp(prefix="tandem-clonefs-")
        cls.mounts = {}
        try:
            for name, mkfs in (("xfs", ["mkfs.xfs", "-q", "-m", "reflink=1"]), ("ext4", ["mkfs.ext4", "-q", "-F"])):
                image, mnt = os.path.join(cls.fs_root, f"{name}.img"), os.path.join(cls.fs_root, name)
                os.makedirs(mnt)
                with open(image, "wb") as f:
                    f.truncate(512 * MiB)
                subprocess.run([*mkfs, image], check=True, capture_output=True)
                subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
                cls.mounts[name] = mnt
            cls.node_args = tuple(f"--pool={n}=file:{m}" for n, m in cls.mounts.items())
            super().setUpClass()
        except Exception:
            cls.unmount()
            raise

    @classmethod
    def unmount(cls):
        for mnt in cls.mounts.values():
            subprocess.run(["umount", mnt], check=False)
        shutil.rmtree(cls.fs_root, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.unmount()

    def source_with_snapshot(self, pool):
        """A 1-replica volume in `pool` with DATA of pattern 0x6a then 0x6b, and its snapshot."""
        api = self.cluster.api
        api.post("/v1/resource-groups", {"name": f"on-{pool}", "replicas": 1, "pools": [pool]})
        api.post("/v1/volumes", {"name": f"src-{pool}", "size_bytes": 2 * DATA, "resource_group": f"on-{pool}"})
        vol = self.cluster.wait_volume_state(f"src-{pool}", "available", timeout=60)
        self.qemu_io(vol["nbd_uri"], f"write -P 0x6a 0 {DATA // MiB}M", f"write -P 0x6b {DATA // MiB}M 1M")
        api.post(f"/v1/volumes/src-{pool}/snapshots", {"name": f"src-{pool}-s"})
        wait_for("the snapshot", lambda: api.get(
            f"/v1/volumes/src-{pool}/snapshots/src-{pool}-s")["state"] == "available", 60)
        subprocess.run(["sync"], check=True)
        return vol

    def make_copy(self, name, pool, group):
        self.cluster.api.post("/v1/volumes", {"name": name, "size_bytes": 2 * DATA, "resource_group": group,
                                              "source": {"volume": f"src-{pool}", "snapshot": f"src-{pool}-s"}})
        copy = self.cluster.wait_volume_state(name, "available", timeout=120)
        self.qemu_io(copy["nbd_uri"], f"read -P 0x6a 0 {DATA // MiB}M", f"read -P 0x6b {DATA // MiB}M 1M",
                     f"read -P 0 {DATA // MiB + 1}M {DATA // MiB - 1}M")
        subprocess.run(["sync"], check=True)
        return copy

    def test_xfs_clone_shares_the_snapshots_extents(self):
        self.source_with_snapshot("xfs")
        before = used_bytes(self.mounts["xfs"])
        self.make_copy("copy-xfs", "xfs", "on-xfs")
        grown = used_bytes(self.mounts["xfs"]) - before
        self.assertLess(grown, 8 * MiB, f"a reflink clone allocated {grown} bytes for {DATA} bytes of data")

    def test_ext4_clone_is_a_copy(self):
        self.source_with_snapshot("ext4")
        before = used_bytes(self.mounts["ext4"])
        self.make_copy("copy-ext4", "ext4", "on-ext4")
        grown = used_bytes(self.mounts["ext4"]) - before
        self.assertGreaterEqual(grown, DATA, f"a copy on ext4 allocated only {grown} bytes for {DATA}")

    def test_replica_on_a_node_without_a_copy_is_synced(self):
        self.source_with_snapshot("xfs")  # idempotent: the same volume and snapshot if made already
        self.cluster.start_node("node2")  # its default pool: no copy of the snapshot there
        self.addCleanup(lambda: self.cluster.nodes["node2"].stop())
        wait_for("node2 online", lambda: any(n["name"] == "node2" and n["state"] == "online"
                                             for n in self.cluster.api.get("/v1/nodes")["nodes"]), 30)
        self.cluster.api.post("/v1/resource-groups", {"name": "two", "replicas": 2, "pools": ["xfs", "default"]})
        copy = self.make_copy("copy-two", "xfs", "two")
        self.assertEqual(copy["primary_node"], "node1", "the primary is where the snapshot's copy is")
        self.assertEqual(sorted(r["node"] for r in copy["replicas"]), ["node1", "node2"])
        on_xfs = next(os.path.join(self.mounts["xfs"], f) for f in os.listdir(self.mounts["xfs"])
                      if f.startswith(copy["uuid"]) and "@" not in f)
        self.assertTrue(filecmp.cmp(on_xfs, self.cluster.backing_file("node2", copy["uuid"]), shallow=False),
                        "the replica synced to node2 differs from the clone on node1")
        self.cluster.api.call("DELETE", "/v1/volumes/copy-two")


if __name__ == "__main__":
    unittest.main()
