"""tandem-pool-fs (issue 12) as a real process on a real cluster: every file semantic of the
volumes of a resource group, checked against the Tandem API and the replicas' backing files.
Needs root and /dev/fuse. Leaves no mount or process behind."""

import errno
import fcntl
import mmap
import os
import subprocess
import tempfile

from clusterfixture import ClusterTestCase, ApiError, run, wait_for
from poolfs import PoolFs, mounted

MiB = 1 << 20
GROUP = "pfs"
BLKBSZGET = 0x80081270


class PoolFsTest(ClusterTestCase):
    nodes = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = cls.cluster.api
        api.post("/v1/resource-groups", {"name": GROUP, "replicas": 3})
        api.post("/v1/resource-groups", {"name": "other", "replicas": 1})
        cls.fs = PoolFs(cls.cluster, GROUP, os.path.join(cls.tmp, "mnt"), os.path.join(cls.tmp, "poolfs-state"),
                        os.path.join(cls.tmp, "pool-fs.log"), extra=("--metadata-ttl=0s",))
        try:
            cls.fs.start()
        except Exception:
            cls.dump_logs()
            cls.fs.stop()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        rc, left_mounted = 0, False
        if getattr(cls, "fs", None):
            rc = cls.fs.stop()
            left_mounted = mounted(cls.fs.mount)
        super().tearDownClass()
        assert not left_mounted, "tandem-pool-fs left its mount"
        assert rc == 0, f"tandem-pool-fs exited {rc}"


    def path(self, name):
        return os.path.join(self.fs.volumes, name)

    def attachments(self, name):
        return self.cluster.api.get(f"/v1/volumes/{name}/attachments")["attachments"]

    def new_file(self, name, size, mode=0o600):
        """What libvirt's vol-create-as does: O_CREAT|O_EXCL, ftruncate, fsync, close."""
        fd = os.open(self.path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.cluster.volume(name)

    def assert_errno(self, code, fn, *args):
        with self.assertRaises(OSError) as raised:
            fn(*args)
        self.assertEqual(raised.exception.errno, code, raised.exception)

    def primary_allocation(self, name):
        return next(r["allocated_bytes"] for r in self.cluster.volume(name)["replicas"] if r["primary"])

    def assert_blocks_are_the_allocation(self, name, at_least, below):
        """stat's st_blocks is what the primary's copy really uses (thin: written blocks only)."""
        wait_for(f"{name}'s blocks to match its allocation",
                 lambda: os.stat(self.path(name)).st_blocks * 512 == self.primary_allocation(name), 30)
        self.assertGreaterEqual(os.stat(self.path(name)).st_blocks * 512, at_least)
        self.assertLess(os.stat(self.path(name)).st_blocks * 512, below)

    def wait_detached(self, name):
        wait_for(f"{name} detached", lambda: not self.attachments(name), 30)

    # -- tests

    def test_create_makes_a_volume_sized_by_ftruncate_and_writes_reach_every_replica(self):
        fd = os.open(self.path("pf-create"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            self.assertEqual(os.fstat(fd).st_size, 0)
            with self.assertRaises(ApiError):
                self.cluster.volume("pf-create")  # no volume before the size is known
            os.ftruncate(fd, 8 * MiB)
            v = self.cluster.volume("pf-create")
            self.assertEqual((v["size_bytes"], v["resource_group"]), (8 * MiB, GROUP))
            # Opened for writing here: attached on node1 in nbd mode, and the primary moved here.
            att = self.attachments("pf-create")
            self.assertEqual([(a["host"], a["mode"], a["state"]) for a in att], [("node1", "nbd", "attached")])
            self.assertEqual(self.cluster.volume("pf-create")["primary_node"], "node1")
            self.assertIn("socket", att[0]["connection_info"]["data"], "a local primary is reached by its socket")
            data = os.urandom(MiB)
            os.pwrite(fd, data, 3 * MiB)
            os.fsync(fd)
            self.assertEqual(os.pread(fd, MiB, 3 * MiB), data)
            self.assert_errno(errno.ENOSPC, os.pwrite, fd, b"x" * 4096, 8 * MiB)
        finally:
            os.close(fd)
        self.wait_detached("pf-create")
        v = self.cluster.wait_volume_state("pf-create", "available", 60)
        self.assert_replicas_identical(v, 3)
        with open(self.cluster.backing_file("node2", v["uuid"]), "rb") as f:
            f.seek(3 * MiB)
            self.assertEqual(f.read(MiB), data)
        st = os.stat(self.path("pf-create"))
        self.assertEqual(st.st_mode & 0o7777, 0o640)
        self.assertEqual(st.st_size, 8 * MiB)
        self.assert_blocks_are_the_allocation("pf-create", MiB, 8 * MiB)  # the group is thin
        self.assert_errno(errno.EEXIST, os.open, self.path("pf-create"), os.O_RDWR | os.O_CREAT | os.O_EXCL)

    def test_read_only_open_does_not_attach(self):
        v = self.new_file("pf-ro", 4 * MiB)
        self.wait_detached("pf-ro")
        self.qemu_io(v["nbd_uri"], "write -P 0x5a 0 64k")
        with open(self.path("pf-ro"), "rb") as f:
            self.assertEqual(self.attachments("pf-ro"), [])
            self.assertEqual(f.read(64 * 1024), b"\x5a" * 65536)
            self.assertEqual(f.read(4096), b"\0" * 4096)

    def test_larger_ftruncate_grows_online_smaller_is_refused(self):
        self.new_file("pf-grow", 4 * MiB)
        with open(self.path("pf-grow"), "r+b", buffering=0) as f:
            f.seek(MiB)
            f.write(b"\x11" * 4096)
            os.ftruncate(f.fileno(), 12 * MiB)
            self.assertEqual(self.cluster.volume("pf-grow")["size_bytes"], 12 * MiB)
            self.assertEqual(os.fstat(f.fileno()).st_size, 12 * MiB)
            f.seek(10 * MiB)
            f.write(b"\x22" * 4096)  # in the new space
            os.fsync(f.fileno())
            self.assertEqual(os.pread(f.fileno(), 4096, MiB), b"\x11" * 4096)
            self.assertEqual(os.pread(f.fileno(), 4096, 10 * MiB), b"\x22" * 4096)
            self.assert_errno(errno.EINVAL, os.ftruncate, f.fileno(), 6 * MiB)
            self.assert_errno(errno.EINVAL, os.ftruncate, f.fileno(), 12 * MiB + 100)
        self.assertEqual(self.cluster.volume("pf-grow")["size_bytes"], 12 * MiB)
        self.wait_detached("pf-grow")
        self.assert_replicas_identical(self.cluster.wait_volume_state("pf-grow", "available", 60), 3)

    def test_ftruncate_zero_then_size_discards_the_data_and_keeps_the_volume(self):
        uuid = self.new_file("pf-wipe", 4 * MiB)["uuid"]
        with open(self.path("pf-wipe"), "r+b", buffering=0) as f:
            f.write(b"\x33" * MiB)
            os.fsync(f.fileno())
            os.ftruncate(f.fileno(), 0)
            self.assertEqual(os.fstat(f.fileno()).st_size, 0)
            os.ftruncate(f.fileno(), 4 * MiB)
            self.assertEqual(os.pread(f.fileno(), MiB, 0), b"\0" * MiB)
        v = self.cluster.volume("pf-wipe")
        self.assertEqual((v["uuid"], v["size_bytes"]), (uuid, 4 * MiB))
        self.wait_detached("pf-wipe")
        v = self.cluster.wait_volume_state("pf-wipe", "available", 60)
        self.assert_replicas_identical(v, 3)
        with open(self.cluster.backing_file("node3", uuid), "rb") as f:
            self.assertEqual(f.read(MiB), b"\0" * MiB)

    def test_fallocate_is_honoured_and_punch_hole_zeroes(self):
        self.new_file("pf-falloc", 4 * MiB)
        fd = os.open(self.path("pf-falloc"), os.O_RDWR)
        try:
            os.pwrite(fd, b"\x44" * 8192, 0)
            os.posix_fallocate(fd, 0, 4 * MiB)  # within the size: accepted (never ENOSYS)
            os.posix_fallocate(fd, 0, 6 * MiB)  # past the end: the file (the volume) grows
            self.assertEqual(self.cluster.volume("pf-falloc")["size_bytes"], 6 * MiB)
            run("fallocate", "--punch-hole", "--offset", "0", "--length", "4096", self.path("pf-falloc"))
            run("fallocate", "--zero-range", "--offset", "4096", "--length", "4096", self.path("pf-falloc"))
            self.assertEqual(os.pread(fd, 8192, 0), b"\0" * 8192)
        finally:
            os.close(fd)
        self.wait_detached("pf-falloc")

    def test_unlink_deletes_the_volume_but_not_while_open_or_attached(self):
        self.new_file("pf-unlink", 4 * MiB)
        fd = os.open(self.path("pf-unlink"), os.O_RDONLY)
        self.assert_errno(errno.EBUSY, os.unlink, self.path("pf-unlink"))
        os.close(fd)
        self.wait_detached("pf-unlink")
        self.cluster.api.post("/v1/volumes/pf-unlink/attachments", {"host": "node2", "mode": "nbd"})
        self.assert_errno(errno.EBUSY, os.unlink, self.path("pf-unlink"))
        self.cluster.api.call("DELETE", "/v1/volumes/pf-unlink/attachments/node2")
        os.unlink(self.path("pf-unlink"))
        with self.assertRaises(ApiError) as gone:
            self.cluster.volume("pf-unlink")
        self.assertEqual(gone.exception.status, 404)
        self.assertNotIn("pf-unlink", os.listdir(self.fs.volumes))
        # A file never sized has no volume; unlinking it just removes it.
        os.close(os.open(self.path("pf-empty"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        self.assertIn("pf-empty", os.listdir(self.fs.volumes))
        os.unlink(self.path("pf-empty"))
        self.assertNotIn("pf-empty", os.listdir(self.fs.volumes))

    def test_rename_links_dirs_and_bad_names_are_refused(self):
        self.new_file("pf-names", MiB)
        self.assert_errno(errno.EPERM, os.rename, self.path("pf-names"), self.path("pf-renamed"))
        self.assert_errno(errno.EPERM, os.mkdir, self.path("dir"))
        self.assert_errno(errno.EPERM, os.symlink, "pf-names", self.path("link"))
        self.assert_errno(errno.EINVAL, os.open, self.path("-bad"), os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self.assert_errno(errno.EINVAL, os.open, self.path("a b"), os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self.assert_errno(errno.ENAMETOOLONG, os.open, self.path("v" * 65), os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self.assertEqual(os.listdir(self.fs.mount), ["volumes"])
        self.assert_errno(errno.EACCES, os.open, os.path.join(self.fs.mount, "x"), os.O_RDWR | os.O_CREAT, 0o600)

    def test_readdir_and_stat_show_the_groups_volumes(self):
        api = self.cluster.api
        api.post("/v1/volumes", {"name": "pf-api", "size_bytes": 3 * MiB, "resource_group": GROUP})
        api.post("/v1/volumes", {"name": "pf-elsewhere", "size_bytes": MiB, "resource_group": "other"})
        names = os.listdir(self.fs.volumes)
        self.assertIn("pf-api", names)
        self.assertNotIn("pf-elsewhere", names)
        st = os.stat(self.path("pf-api"))
        self.assertEqual((st.st_size, st.st_mode & 0o7777, st.st_uid), (3 * MiB, 0o600, 0))
        self.assert_blocks_are_the_allocation("pf-api", 0, MiB)
        api.call("PATCH", "/v1/volumes/pf-api", {"size_bytes": 5 * MiB})
        self.assertEqual(os.stat(self.path("pf-api")).st_size, 5 * MiB)
        expected = {v["name"] for v in api.get("/v1/volumes")["volumes"] if v["resource_group"] == GROUP}
        self.assertEqual(set(os.listdir(self.fs.volumes)), expected)

    def test_statfs_reports_the_groups_capacity(self):
        pools = [p for p in self.cluster.api.get("/v1/storage-pools")["storage_pools"] if p["state"] == "online"]
        st = os.statvfs(self.fs.volumes)
        self.assertEqual(st.f_frsize, 4096)
        self.assertEqual(st.f_blocks, sum(p["total_bytes"] for p in pools) // 3 // 4096)
        # Free space moves while volumes are written: within 64 MiB of the pools' free / 3.
        self.assertAlmostEqual(st.f_bavail * 4096, sum(p["free_bytes"] for p in pools) // 3, delta=64 * MiB)

    def test_chown_and_chmod_are_stored(self):
        uuid = self.new_file("pf-owner", MiB)["uuid"]
        os.chown(self.path("pf-owner"), 64055, 64056)
        os.chmod(self.path("pf-owner"), 0o660)
        st = os.stat(self.path("pf-owner"))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (64055, 64056, 0o660))
        with open(os.path.join(self.tmp, "poolfs-state", f"attrs-{GROUP}")) as f:
            self.assertIn(f"{uuid} 660 64055 64056", f.read().splitlines())
        # default_permissions: the owner's bits are enforced for other users.
        p = subprocess.run(["setpriv", "--reuid=64057", "--regid=64057", "--clear-groups", "cat", self.path("pf-owner")],
                           capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Permission denied", p.stderr)

    def test_o_direct_fsync_and_ioctl(self):
        self.new_file("pf-direct", 4 * MiB)
        fd = os.open(self.path("pf-direct"), os.O_RDWR | os.O_DIRECT)
        try:
            buf = mmap.mmap(-1, 65536)
            buf.write(os.urandom(65536))
            self.assertEqual(os.pwritev(fd, [buf], MiB), 65536)
            os.fsync(fd)
            back = mmap.mmap(-1, 65536)
            self.assertEqual(os.preadv(fd, [back], MiB), 65536)
            self.assertEqual(back[:], buf[:])
            self.assert_errno(errno.ENOTTY, fcntl.ioctl, fd, BLKBSZGET, b"\0" * 8)
        finally:
            os.close(fd)
        self.wait_detached("pf-direct")
        v = self.cluster.wait_volume_state("pf-direct", "available", 60)
        self.assert_replicas_identical(v, 3)
        with open(self.cluster.backing_file("node3", v["uuid"]), "rb") as f:
            f.seek(MiB)
            self.assertEqual(f.read(65536), buf[:])

    def test_writing_moves_the_primary_to_the_writers_host(self):
        api = self.cluster.api
        api.post("/v1/volumes", {"name": "pf-move", "size_bytes": 4 * MiB, "resource_group": GROUP})
        self.cluster.wait_volume_state("pf-move", "available", 60)
        # The same group mounted on "node2"'s behalf (a second host, as far as the API knows).
        other = PoolFs(self.cluster, GROUP, os.path.join(self.tmp, "mnt2"), os.path.join(self.tmp, "state2"),
                       os.path.join(self.tmp, "pool-fs-node2.log"), node_name="node2").start()
        try:
            data = os.urandom(MiB)
            for fs, host in ((other, "node2"), (self.fs, "node1"), (other, "node2")):
                with open(os.path.join(fs.volumes, "pf-move"), "r+b", buffering=0) as f:
                    v = self.cluster.volume("pf-move")
                    self.assertEqual(v["primary_node"], host)
                    self.assertEqual([(a["host"], a["state"]) for a in self.attachments("pf-move")], [(host, "attached")])
                    os.pwrite(f.fileno(), data, 0)
                    os.fsync(f.fileno())
                self.wait_detached("pf-move")
                with open(os.path.join(self.fs.volumes, "pf-move"), "rb") as f:
                    self.assertEqual(f.read(MiB), data, f"written through {host}'s mount")
                data = os.urandom(MiB)
        finally:
            self.assertEqual(other.stop(), 0)
        self.assert_replicas_identical(self.cluster.wait_volume_state("pf-move", "available", 60), 3)

    def test_refuses_a_non_empty_mount_point(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        open(os.path.join(d, "stray"), "w").close()
        # The options from a config file, like the daemons' (`name = value` lines).
        config = os.path.join(self.tmp, "pool-fs.conf")
        with open(config, "w") as f:
            f.write(f"# tandem-pool-fs\ngroup = {GROUP}\nmount = {d}\ncontroller-url = {self.cluster.url}\n"
                    f"token-file = {self.cluster.service_token_file}\nca-file = {self.cluster.ca}\n"
                    f"state-dir = {os.path.join(self.tmp, 'state2')}\n")
        p = subprocess.run([self.fs.argv[0], f"--config={config}"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not empty", p.stderr)
        self.assertFalse(mounted(d))
