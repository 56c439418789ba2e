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


if __name__ == "__main__":
    unittest.main()
