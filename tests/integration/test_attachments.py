"""Attachments end to end (issue 9): a volume attached as a block device on a host through its
node worker (FUSE + loop, /dev/tandem/<volume> under each node's --device-link-root), a real file
system on it, detach and re-attach on another host, every refusal of the API, and a node worker
killed with -9 while attached. Needs root, /dev/fuse and loop devices. Every test leaves no
mount, loop device or tandem-disk-fuse process behind."""

import json
import os
import subprocess
import tempfile
import threading
import unittest

from clusterfixture import ClusterTestCase, ApiError, processes_where, run, wait_for

MiB = 1 << 20


def loop_devices_under(root):
    """Loop devices whose backing file lies under `root`."""
    out = subprocess.run(["losetup", "--list", "--json"], capture_output=True, text=True).stdout
    devices = json.loads(out)["loopdevices"] if out.strip() else []
    return sorted(d["name"] for d in devices if (d.get("back-file") or "").startswith(root))


def mounts_under(root):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def disk_fuse_processes_under(root):
    return processes_where(lambda argv: argv[0].endswith(b"tandem-disk-fuse") and
                           any(a.startswith(root.encode()) for a in argv))


def attach_block_device(test, volume, host):
    """Attaches `volume` on `host` in block mode for test `test` (a ClusterTestCase), waits until
    it is attached and returns its device path. Returns also `leave_nothing_behind`, registered
    as a cleanup (also when the test fails half way: no attachment, loop device, FUSE mount or
    process of the test is left) and safe to call earlier."""
    api = test.cluster.api
    status, _ = api.call("POST", f"/v1/volumes/{volume}/attachments", {"host": host, "mode": "block"})
    test.assertEqual(status, 201)

    def leave_nothing_behind():
        try:
            api.call("DELETE", f"/v1/volumes/{volume}/attachments/{host}?force=true")
        except ApiError:
            pass
        wait_for("no loop device of the test", lambda: not loop_devices_under(test.tmp), 30)
        wait_for("no tandem-disk-fuse of the test", lambda: not disk_fuse_processes_under(test.tmp), 30)
    test.addCleanup(leave_nothing_behind)

    def attached():
        for a in api.get(f"/v1/volumes/{volume}/attachments")["attachments"]:
            if a["state"] == "attached" and a["host"] == host:
                return a["connection_info"]["data"]["device_path"]
        return None
    return wait_for(f"{volume} attached on {host}", attached, 60), leave_nothing_behind


class FsyncWriter:
    """A thread that writes random 64 KiB blocks round-robin over 4 MiB at `offset` of `device`,
    fsyncing each; `acked` maps each block to its last acknowledged data, `failures` collects
    errors. Use as a context manager: the writer stops and joins on exit."""

    BLOCK = 64 * 1024

    def __init__(self, device, offset):
        self.device, self.offset = device, offset
        self.acked, self.failures, self.stop = {}, [], threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        i = 0
        with open(self.device, "r+b", buffering=0) as f:
            while not self.stop.is_set():
                n, data = i % 64, os.urandom(self.BLOCK)
                try:
                    f.seek(self.offset + n * self.BLOCK)
                    f.write(data)
                    os.fsync(f.fileno())
                    self.acked[n] = data
                except OSError as e:
                    self.failures.append(e)
                i += 1

    def __enter__(self):
        self.thread.start()
        wait_for("the writer to get going", lambda: len(self.acked) >= 8, 30)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def check(self, test, region):
        """`region`: the 4 MiB read back; every acknowledged block must be there."""
        for n, data in self.acked.items():
            test.assertEqual(region[n * self.BLOCK:(n + 1) * self.BLOCK], data, f"acknowledged block {n}")


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/dev/fuse"), "needs root and /dev/fuse")
class AttachmentTest(ClusterTestCase):
    nodes = 4  # a 3-replica group leaves one node without a replica: a diskless client

    def setUp(self):
        self.api = self.cluster.api
        self.mnt = tempfile.mkdtemp(prefix="mnt-", dir=self.tmp)

    def tearDown(self):
        # Nothing may be left behind: unmount and detach what a failed test left, then check.
        for m in mounts_under(self.tmp):
            subprocess.run(["umount", m])
        for v in self.api.get("/v1/volumes")["volumes"]:
            for a in self.api.get(f"/v1/volumes/{v['name']}/attachments")["attachments"]:
                try:
                    self.api.call("DELETE", f"/v1/volumes/{v['name']}/attachments/{a['host']}?force=true")
                except ApiError:
                    pass
        wait_for("no loop device of the test", lambda: not loop_devices_under(self.tmp), 30)
        wait_for("no tandem-disk-fuse of the test", lambda: not disk_fuse_processes_under(self.tmp), 30)
        self.assertEqual(mounts_under(self.tmp), [])

    # -- helpers
    def attach(self, volume, host, expect=201, mode="block"):
        status, body = self.api.call("POST", f"/v1/volumes/{volume}/attachments", {"host": host, "mode": mode})
        self.assertEqual(status, expect, body)
        return body

    def detach(self, volume, host, force=False):
        status, _ = self.api.call("DELETE", f"/v1/volumes/{volume}/attachments/{host}" +
                                  ("?force=true" if force else ""))
        self.assertEqual(status, 204)

    def wait_attached(self, volume, host):
        def attached():
            for a in self.api.get(f"/v1/volumes/{volume}/attachments")["attachments"]:
                if a["host"] == host and a["state"] == "attached":
                    return a
                if a["host"] == host and a["state"] == "error":
                    raise AssertionError(f"attachment failed: {a}")
            return None
        a = wait_for(f"{volume} attached on {host}", attached, 60)
        path = a["connection_info"]["data"]["device_path"]
        self.assertEqual(path, os.path.join(self.cluster.device_link_root(host), volume))
        self.assertTrue(os.path.exists(path), path)
        return path

    def expect_error(self, status, code, method, path, body=None):
        with self.assertRaises(ApiError) as caught:
            self.api.call(method, path, body)
        self.assertEqual(caught.exception.status, status, caught.exception.body)
        self.assertEqual(json.loads(caught.exception.body)["error"]["code"], code, caught.exception.body)

    def replica_less_node(self, view):
        holders = {r["node"] for r in view["replicas"]}
        return next(n for n in sorted(self.cluster.nodes) if n not in holders)

    # -- tests
    def test_file_system_on_a_diskless_host_then_read_back_on_another(self):
        # Attach on the node without a replica (NBD to the primary over TCP), mkfs, write files,
        # detach; attach on a replica's node and read them back; the replicas are identical.
        view = self.available_volume("att-fs", 64 * MiB, replicas=3)
        client = self.replica_less_node(view)
        made = self.attach("att-fs", client)
        self.assertEqual(made["connection_info"]["driver_volume_type"], "local")
        self.assertEqual(made["connection_info"]["data"]["device_path"],
                         os.path.join(self.cluster.device_link_root(client), "att-fs"), "known before the device")
        self.assertEqual(self.attach("att-fs", client, expect=200)["host"], client, "a repeat is the same")
        dev = self.wait_attached("att-fs", client)
        shown = self.cluster.volume("att-fs")
        self.assertEqual(shown["state"], "attached")
        self.assertEqual(shown["attached_hosts"], [client])

        run("mkfs.ext4", "-q", "-F", dev)
        run("mount", dev, self.mnt)
        payload = os.urandom(3 * MiB)
        with open(os.path.join(self.mnt, "data.bin"), "wb") as f:
            f.write(payload)
        with open(os.path.join(self.mnt, "hello.txt"), "w") as f:
            f.write("hello from a diskless client\n")
        run("sync")
        # Mounted: the detach is refused and the attachment stays.
        self.expect_error(409, "device_busy", "DELETE", f"/v1/volumes/att-fs/attachments/{client}")
        self.wait_attached("att-fs", client)
        # Attached: the volume cannot be deleted.
        self.expect_error(409, "volume_attached", "DELETE", "/v1/volumes/att-fs")
        run("umount", self.mnt)
        self.detach("att-fs", client)
        self.assertFalse(os.path.lexists(dev), "the stable path is gone")
        self.assertEqual(self.api.get("/v1/volumes/att-fs/attachments")["attachments"], [])
        self.detach("att-fs", client)  # idempotent

        other = next(r["node"] for r in view["replicas"] if not r["primary"])
        dev2 = self.wait_attached("att-fs", self.attach("att-fs", other)["host"])
        run("mount", "-o", "ro", dev2, self.mnt)
        with open(os.path.join(self.mnt, "data.bin"), "rb") as f:
            self.assertEqual(f.read(), payload)
        with open(os.path.join(self.mnt, "hello.txt")) as f:
            self.assertEqual(f.read(), "hello from a diskless client\n")
        run("umount", self.mnt)
        self.detach("att-fs", other)
        self.assert_replicas_identical(self.cluster.wait_volume_state("att-fs", "available"))
        status, _ = self.api.call("DELETE", "/v1/volumes/att-fs")
        self.assertEqual(status, 204)

    def test_detach_pending_across_a_worker_restart_still_sees_the_mount(self):
        # Regression: a detach is asked while the host's worker is down (killed -9) and the device
        # is mounted; the worker restarts during the detach's wait. It never saw the volume
        # desired, yet must report the device busy (by the uuid kept on the host): the detach is
        # 409 device_busy and the attachment stays. Before the fix the restarted worker reported
        # nothing, and the controller dropped the attachment of a mounted device (204).
        view = self.available_volume("att-rs", 16 * MiB, replicas=3)
        client = self.replica_less_node(view)
        dev = self.wait_attached("att-rs", self.attach("att-rs", client)["host"])
        run("mkfs.ext4", "-q", "-F", dev)
        run("mount", dev, self.mnt)
        self.cluster.nodes[client].kill9()
        self.addCleanup(lambda: self.cluster.nodes[client].running() or self.cluster.start_node(client))
        answer = {}

        def detach():
            try:
                answer["status"] = self.api.call("DELETE", f"/v1/volumes/att-rs/attachments/{client}")[0]
            except ApiError as e:
                answer["status"], answer["body"] = e.status, e.body
        t = threading.Thread(target=detach)
        t.start()
        wait_for("the detach to be pending", lambda: any(
            a["state"] == "detaching" for a in self.api.get("/v1/volumes/att-rs/attachments")["attachments"]), 10)
        self.cluster.start_node(client)
        t.join()
        self.assertEqual(answer.get("status"), 409, answer)
        self.assertEqual(json.loads(answer["body"])["error"]["code"], "device_busy", answer)
        self.assertEqual([a["host"] for a in self.api.get("/v1/volumes/att-rs/attachments")["attachments"]], [client])
        self.expect_error(409, "volume_attached", "DELETE", "/v1/volumes/att-rs")
        run("umount", self.mnt)
        self.detach("att-rs", client)
        self.assertFalse(os.path.lexists(dev))

    def test_online_grow_reaches_a_mounted_block_device(self):
        # PATCH size while ext4 is mounted on a diskless client's device: the device grows
        # (the node worker grows its FUSE file once the primary's export has grown, then
        # `losetup -c`) under the mounted file system, resize2fs grows the file system, and more
        # than the old size can be written and read back; the replicas end identical.
        view = self.available_volume("att-grow", 32 * MiB, replicas=3)
        client = self.replica_less_node(view)
        dev = self.wait_attached("att-grow", self.attach("att-grow", client)["host"])
        run("mkfs.ext4", "-q", "-F", dev)
        run("mount", dev, self.mnt)
        before = os.urandom(4 * MiB)
        with open(os.path.join(self.mnt, "before.bin"), "wb") as f:
            f.write(before)
        self.api.call("PATCH", "/v1/volumes/att-grow", {"size_bytes": 96 * MiB})

        def device_size():
            return int(run("blockdev", "--getsize64", dev).stdout.strip())
        wait_for("the device to grow", lambda: device_size() == 96 * MiB, 60)
        with open(os.path.join(self.mnt, "before.bin"), "rb") as f:
            self.assertEqual(f.read(), before, "the mounted file system works on across the grow")
        # The file system grows offline: online resize2fs needs CAP_SYS_RESOURCE, which root lacks
        # on this machine (the device itself grew while mounted).
        run("umount", self.mnt)
        run("e2fsck", "-f", "-y", dev)
        run("resize2fs", dev)
        run("mount", dev, self.mnt)
        big = os.urandom(48 * MiB)  # more than the volume's old size
        with open(os.path.join(self.mnt, "big.bin"), "wb") as f:
            f.write(big)
        run("sync")
        run("umount", self.mnt)
        run("mount", dev, self.mnt)
        with open(os.path.join(self.mnt, "before.bin"), "rb") as f:
            self.assertEqual(f.read(), before)
        with open(os.path.join(self.mnt, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), big)
        run("umount", self.mnt)
        self.detach("att-grow", client)
        self.assert_replicas_identical(self.cluster.wait_volume_state("att-grow", "available"))

    def test_refusals(self):
        view = self.available_volume("att-no", 16 * MiB, replicas=3)
        client = self.replica_less_node(view)
        self.expect_error(422, "node_not_found", "POST", "/v1/volumes/att-no/attachments", {"host": "nowhere"})
        self.expect_error(404, "volume_not_found", "POST", "/v1/volumes/att-none/attachments", {"host": client})
        self.expect_error(400, "invalid_field", "POST", "/v1/volumes/att-no/attachments",
                          {"host": client, "mode": "iscsi"})
        # A registered host that stopped reporting is offline.
        body = {"name": "att-ghost", "address": "127.0.0.1", "nbd_port": 10809, "replication_port": 7789,
                "pools": []}
        self.api.post("/v1/nodes", body)
        wait_for("att-ghost offline", lambda: self.cluster.node_state("att-ghost") == "offline", 30)
        self.expect_error(409, "node_offline", "POST", "/v1/volumes/att-no/attachments", {"host": "att-ghost"})
        self.api.call("DELETE", "/v1/nodes/att-ghost")

        dev = self.wait_attached("att-no", self.attach("att-no", client)["host"])
        other = view["replicas"][1]["node"]
        self.expect_error(409, "multiattach_not_allowed", "POST", "/v1/volumes/att-no/attachments",
                          {"host": other})
        self.expect_error(409, "attachment_exists", "POST", "/v1/volumes/att-no/attachments",
                          {"host": client, "mode": "nbd"})
        self.detach("att-no", other)  # not attached there: fine
        self.expect_error(404, "volume_not_found", "DELETE", f"/v1/volumes/att-none/attachments/{client}")
        # Open (not mounted): refused without force; with force the device goes, and the
        # opener's later I/O fails with EIO.
        with open(dev, "rb", buffering=0) as held:
            self.expect_error(409, "device_busy", "DELETE", f"/v1/volumes/att-no/attachments/{client}")
            self.detach("att-no", client, force=True)
            self.assertFalse(os.path.lexists(dev))
            with self.assertRaises(OSError):
                os.pread(held.fileno(), 4096, 0)
        self.assertEqual(self.api.get("/v1/volumes/att-no/attachments")["attachments"], [])

        # A group that allows multi-attach: a second host attaches too.
        self.api.post("/v1/resource-groups", {"name": "att-multi", "replicas": 2, "allow_multiattach": True})
        self.available_volume("att-two", 16 * MiB, group="att-multi")
        hosts = sorted(self.cluster.nodes)[:2]
        devices = [self.wait_attached("att-two", self.attach("att-two", h)["host"]) for h in hosts]
        self.assertEqual(sorted(self.cluster.volume("att-two")["attached_hosts"]), hosts)
        # Writes from either host go through the one primary: each reads the other's (O_DIRECT).
        for i, (writer, reader) in enumerate([(devices[0], devices[1]), (devices[1], devices[0])]):
            pattern = os.urandom(MiB)
            with open(writer, "r+b", buffering=0) as f:
                f.seek(i * MiB)
                f.write(pattern)
                os.fsync(f.fileno())
            self.assertEqual(subprocess.run(["dd", f"if={reader}", "iflag=direct", "bs=1M", f"skip={i}",
                                             "count=1", "status=none"], capture_output=True).stdout, pattern)
        for h in hosts:
            self.detach("att-two", h)

    def test_live_migration_dance_while_writing(self):
        # What a live migration does with a multi-attach volume: attached on A with a writer
        # running, attached on B too (B writes as well: both go through the one primary), the
        # writer on A stops, A detaches; B reads every write A and B had acknowledged.
        self.api.post("/v1/resource-groups", {"name": "att-mig", "replicas": 2, "allow_multiattach": True})
        view = self.available_volume("att-mig", 16 * MiB, group="att-mig")
        holders = {r["node"] for r in view["replicas"]}
        a, b = [n for n in sorted(self.cluster.nodes) if n not in holders][:2]
        dev_a = self.wait_attached("att-mig", self.attach("att-mig", a)["host"])
        with FsyncWriter(dev_a, 8 * MiB) as writer:
            dev_b = self.wait_attached("att-mig", self.attach("att-mig", b)["host"])
            mine = os.urandom(MiB)
            with open(dev_b, "r+b", buffering=0) as f:
                f.seek(12 * MiB)
                f.write(mine)
                os.fsync(f.fileno())
        self.assertEqual(writer.failures, [])
        self.detach("att-mig", a)
        self.assertEqual(self.cluster.volume("att-mig")["attached_hosts"], [b])
        region = subprocess.run(["dd", f"if={dev_b}", "iflag=direct", "bs=1M", "skip=8", "count=8", "status=none"],
                                capture_output=True, check=True).stdout
        writer.check(self, region[:4 * MiB])
        self.assertEqual(region[4 * MiB:5 * MiB], mine, "B's own write")
        self.detach("att-mig", b)

    def test_primary_follows_the_attachment(self):
        # Attached on a node holding an up-to-date replica (and nowhere else), the volume is
        # served from there: the old primary stops first, then the new one takes the next epoch.
        view = self.available_volume("att-move", 16 * MiB, replicas=3)
        old, epoch = view["primary_node"], view["epoch"]
        target = next(r["node"] for r in view["replicas"] if not r["primary"])
        dev = self.wait_attached("att-move", self.attach("att-move", target)["host"])
        moved = wait_for("the primary to move", lambda: (lambda v: v if v["primary_node"] == target else None)(
            self.cluster.volume("att-move")), 30)
        self.assertEqual(moved["epoch"], epoch + 1)
        pattern = os.urandom(MiB)
        with open(dev, "r+b", buffering=0) as f:
            f.write(pattern)
            os.fsync(f.fileno())
        with open(dev, "rb", buffering=0) as f:
            self.assertEqual(f.read(MiB), pattern)
        # The old primary no longer serves the volume.
        p = run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 4k", view["nbd_uri"], check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.detach("att-move", target)
        final = self.cluster.wait_volume_state("att-move", "available")
        self.assertEqual(final["primary_node"], target)
        self.assert_replicas_identical(final)
        self.assertNotEqual(old, target)

    def test_primary_follows_the_end_of_a_live_migration_under_fio_verify(self):
        # Multi-attached on the primary's host P and on S, which holds the other replica (the
        # middle of a live migration): the primary stays on P. P detaches (the migration's end):
        # S is now the only host, so the primary moves there by a planned handover, while fio
        # writes S's device with crc32c verification. No I/O may fail across the handover, every
        # block verifies, and the old primary no longer serves the volume.
        self.api.post("/v1/resource-groups", {"name": "att-end", "replicas": 2, "allow_multiattach": True})
        view = self.available_volume("att-end", 64 * MiB, group="att-end")
        p, epoch = view["primary_node"], view["epoch"]
        s = next(r["node"] for r in view["replicas"] if not r["primary"])
        self.wait_attached("att-end", self.attach("att-end", p)["host"])
        dev_s = self.wait_attached("att-end", self.attach("att-end", s)["host"])
        self.assertEqual(self.cluster.volume("att-end")["primary_node"], p, "two hosts: the primary stays")
        # About 12 s of writes (3072 x 4 KiB at 256 IOPS), then every block is read and verified.
        fio = subprocess.Popen(
            ["fio", "--name=handover", f"--filename={dev_s}", "--rw=randwrite", "--bs=4k", "--size=12M",
             "--direct=1", "--ioengine=psync", "--rate_iops=256", "--verify=crc32c", "--do_verify=1",
             "--verify_fatal=1", "--verify_state_save=0", "--output-format=normal"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: fio.poll() is None and fio.kill())
        self.detach("att-end", p)
        moved = wait_for("the primary to follow the remaining attachment",
                         lambda: (lambda v: v if v["primary_node"] == s else None)(self.cluster.volume("att-end")),
                         30)
        self.assertIsNone(fio.poll(), "fio ended before the handover: the test proves nothing")
        self.assertEqual(moved["epoch"], epoch + 1)
        out, _ = fio.communicate(timeout=120)
        self.assertEqual(fio.returncode, 0, out)
        self.assertIn("err= 0", out)
        self.assertIn("issued rwts: total=3072,3072,", out, "every written block was read back and verified")
        p_run = run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 4k", view["nbd_uri"], check=False)
        self.assertNotEqual(p_run.returncode, 0, "the old primary still serves: " + p_run.stdout + p_run.stderr)
        self.detach("att-end", s)
        final = self.cluster.wait_volume_state("att-end", "available")
        self.assertEqual(final["primary_node"], s)
        self.assert_replicas_identical(final, count=2)

    def test_node_worker_killed_while_attached(self):
        # kill -9 of the attaching host's worker while a writer runs: the device keeps working,
        # every fsynced write reads back, and the restarted worker adopts the device instead of
        # making a second one.
        view = self.available_volume("att-kill", 16 * MiB, replicas=3)
        client = self.replica_less_node(view)
        dev = self.wait_attached("att-kill", self.attach("att-kill", client)["host"])
        state_dir = os.path.join(self.cluster.node_dir(client), "attach")
        before = loop_devices_under(state_dir)
        self.assertEqual(len(before), 1, before)
        pattern = os.urandom(MiB)
        with open(dev, "r+b", buffering=0) as f:
            f.write(pattern)
            os.fsync(f.fileno())

        # A writer keeps writing and fsyncing 64 KiB blocks (8-12 MiB) through the kill -9 and
        # the restart; every block whose fsync returned must read back.
        with FsyncWriter(dev, 8 * MiB) as writer:
            self.cluster.nodes[client].kill9()
            with open(dev, "rb", buffering=0) as f:  # the FUSE server is its own process
                self.assertEqual(f.read(MiB), pattern)
            with open(dev, "r+b", buffering=0) as f:
                f.seek(4 * MiB)
                f.write(pattern)
                os.fsync(f.fileno())
            self.cluster.start_node(client)
            wait_for(f"{client} online", lambda: self.cluster.node_state(client) == "online", 30)
            self.wait_attached("att-kill", client)
        self.assertEqual(writer.failures, [], "the device kept working while its node worker was away")
        self.assertEqual(loop_devices_under(state_dir), before, "adopted, not duplicated")
        with open(dev, "rb", buffering=0) as f:
            f.seek(4 * MiB)
            self.assertEqual(f.read(MiB), pattern)
            f.seek(8 * MiB)
            writer.check(self, f.read(4 * MiB))
        self.detach("att-kill", client)

    def test_diskless_client_rides_through_the_loss_of_its_primary(self):
        # The primary's node dies under a diskless client: writes fail with EIO (never silently),
        # the operator promotes a secondary, and I/O resumes on the same device path with every
        # acknowledged (fsynced) write there.
        self.api.post("/v1/resource-groups", {"name": "att-q3", "replicas": 3, "quorum": "majority"})
        view = self.available_volume("att-fo", 16 * MiB, group="att-q3")
        client, old = self.replica_less_node(view), view["primary_node"]
        target = next(r["node"] for r in view["replicas"] if not r["primary"])
        dev = self.wait_attached("att-fo", self.attach("att-fo", client)["host"])
        before = os.urandom(MiB)
        with open(dev, "r+b", buffering=0) as f:
            f.write(before)
            os.fsync(f.fileno())

        self.cluster.nodes[old].kill9()
        self.addCleanup(lambda: (self.cluster.start_node(old), wait_for(
            f"{old} online", lambda: self.cluster.node_state(old) == "online", 30)))

        def write_at(offset, data):
            try:
                with open(dev, "r+b", buffering=0) as f:
                    f.seek(offset)
                    f.write(data)
                    os.fsync(f.fileno())
                return True
            except OSError as e:
                self.assertEqual(e.errno, 5, f"a write without a primary fails with EIO, not {e!r}")
                return False
        self.assertFalse(write_at(2 * MiB, os.urandom(MiB)), "no primary: the write must fail")
        wait_for(f"{old} offline", lambda: self.cluster.node_state(old) == "offline", 30)

        promoted = self.api.post("/v1/volumes/att-fo/promote", {"node": target})
        self.assertEqual(promoted["primary_node"], target)
        after = os.urandom(MiB)
        wait_for("I/O resumes on the same path", lambda: write_at(4 * MiB, after), 60)
        self.assertTrue(os.path.exists(dev))
        with open(dev, "rb", buffering=0) as f:
            self.assertEqual(f.read(MiB), before, "the write fsynced before the loss is there")
            f.seek(4 * MiB)
            self.assertEqual(f.read(MiB), after)
        self.detach("att-fo", client)


# Runs the rest of the command line in a private mount namespace whose /dev is a tmpfs with only
# null, zero, full, random, urandom and tty: no /dev/fuse and no /dev/loop-control, like a host
# whose kernel has neither nbd nor FUSE (the real detection code runs, against a real /dev).
NO_BLOCK_DEVICES = """
real=$1; shift
mkdir -p "$real"; mount --bind /dev "$real"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do touch "/dev/$n"; mount --bind "$real/$n" "/dev/$n"; done
ln -s /proc/self/fd /dev/fd
umount -l "$real"
exec "$@"
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root (mount namespaces)")
class HostWithoutBlockDevicesTest(ClusterTestCase):
    nodes = 1

    def test_block_attach_is_refused_with_the_hosts_reason(self):
        name = "nodev"
        wrapper = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", NO_BLOCK_DEVICES, "sh",
                   os.path.join(self.tmp, "realdev-" + name)]
        self.cluster.start_node(name, wrapper=wrapper)
        self.addCleanup(lambda: self.cluster.nodes[name].stop())
        wait_for(f"{name} online", lambda: any(n["name"] == name and n["state"] == "online"
                                               for n in self.cluster.api.get("/v1/nodes")["nodes"]), 30)
        self.cluster.api.post("/v1/resource-groups", {"name": "one", "replicas": 1})
        self.cluster.api.post("/v1/volumes", {"name": "v", "size_bytes": 4 * MiB, "resource_group": "one"})
        self.cluster.wait_volume_state("v", "available", timeout=60)
        with self.assertRaises(ApiError) as caught:
            self.cluster.api.call("POST", "/v1/volumes/v/attachments", {"host": name, "mode": "block"})
        self.assertEqual(caught.exception.status, 422, caught.exception.body)
        error = json.loads(caught.exception.body)["error"]
        self.assertEqual(error["code"], "no_block_device_support")
        self.assertIn("/dev/fuse", error["message"])
        self.assertEqual(self.cluster.api.get("/v1/volumes/v/attachments")["attachments"], [], "nothing half-made")
        # The NBD shape needs nothing on the host: it is still allowed there.
        status, body = self.cluster.api.call("POST", "/v1/volumes/v/attachments", {"host": name, "mode": "nbd"})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["connection_info"]["driver_volume_type"], "nbd")
        status, _ = self.cluster.api.call("DELETE", f"/v1/volumes/v/attachments/{name}")
        self.assertEqual(status, 204)


if __name__ == "__main__":
    unittest.main()
