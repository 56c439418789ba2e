"""A real libvirt (issue 12): libvirtd and virtlogd started by hand in a private mount namespace
(tests/integration/libvirtns.py), a `dir` pool on a tandem-pool-fs mount defined from
`tandem libvirt pool-xml`, every virsh pool/volume verb checked against the Tandem API and the
replicas, then a small TCG domain with a pool volume and an NBD network disk written through
QEMU's qemu-io. Needs root, /dev/fuse, libvirt-daemon-system, libvirt-clients, qemu-system-x86
(script/deps test installs them). Leaves no process, mount or file behind."""

import os
import pwd
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

from clusterfixture import BIN_DIR, ClusterTestCase, ApiError, processes_where, run, wait_for
from libvirtns import PrivateLibvirt, read
from poolfs import PoolFs, mounted

MiB = 1 << 20
GROUP = "lv"
POOL = f"tandem-{GROUP}"
DOMAIN = "tandem-it-libvirt"


def qemu_pids(domain):
    return processes_where(lambda argv: b"qemu-system" in argv[0] and f"guest={domain}".encode() in b" ".join(argv))


class LibvirtPoolTest(ClusterTestCase):
    nodes = 2

    @classmethod
    def setUpClass(cls):
        missing = [b for b in ("virsh", "libvirtd", "virtlogd", "qemu-system-x86_64") if shutil.which(b) is None]
        if missing:
            raise RuntimeError(f"missing {missing}: run script/deps test")
        super().setUpClass()
        os.chmod(cls.tmp, 0o711)  # QEMU runs as libvirt-qemu and opens the pool's files below it
        cls.cluster.api.post("/v1/resource-groups", {"name": GROUP, "replicas": 2})
        cls.libvirt = PrivateLibvirt(os.path.join(cls.tmp, "libvirt"))
        cls.mount = os.path.join(cls.libvirt.shared, "mnt")
        cls.fs = None
        try:
            cls.libvirt.start()
            cls.fs = PoolFs(cls.cluster, GROUP, cls.mount, os.path.join(cls.tmp, "poolfs-state"),
                            os.path.join(cls.tmp, "pool-fs.log")).start()
        except Exception:
            cls.dump_logs()
            cls.cleanup()
            super().tearDownClass()
            raise

    @classmethod
    def cleanup(cls):
        for pid in qemu_pids(DOMAIN):
            os.kill(pid, 9)
        left = cls.libvirt.stop_daemons()
        if cls.fs:
            cls.fs.stop()
        cls.libvirt.unmount_shared()
        return left

    @classmethod
    def tearDownClass(cls):
        left = cls.cleanup()
        still_mounted = mounted(cls.mount)
        super().tearDownClass()
        assert not left, f"libvirt daemons left running: {left}"
        assert not still_mounted, "tandem-pool-fs left its mount"
        assert not qemu_pids(DOMAIN), "a qemu process is left"

    def virsh(self, *args, check=True):
        return self.libvirt.virsh(*args, check=check)

    def tandem(self, *args):
        return run(os.path.join(BIN_DIR, "tandem"), f"--url={self.cluster.url}", f"--token={self.cluster.token}",
                   f"--ca-file={self.cluster.ca}", *args).stdout

    def volume(self, name):
        return self.cluster.volume(name)

    def settled(self, name):
        """The volume once nothing holds it: detached everywhere, available, replicas identical."""
        wait_for(f"{name} detached",
                 lambda: not self.cluster.api.get(f"/v1/volumes/{name}/attachments")["attachments"], 30)
        v = self.cluster.wait_volume_state(name, "available", 60)
        self.assert_replicas_identical(v, 2)
        return v

    def vol_info(self, name):
        out = self.virsh("vol-info", "--bytes", name, "--pool", POOL).stdout
        return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}

    def test_virsh_session_from_pool_to_running_domain(self):
        api = self.cluster.api
        # -- the pool, from the CLI's XML
        pool_xml = os.path.join(self.tmp, "pool.xml")
        with open(pool_xml, "w") as f:
            f.write(self.tandem("libvirt", "pool-xml", GROUP, "--mount", self.mount))
        self.virsh("pool-define", pool_xml)
        self.virsh("pool-build", POOL)
        self.virsh("pool-start", POOL)
        self.virsh("pool-refresh", POOL)
        info = dict(re.findall(r"^(\w+):\s+(.*)$", self.virsh("pool-info", "--bytes", POOL).stdout, re.M))
        self.assertEqual(info["State"], "running")
        pools = [p for p in api.get("/v1/storage-pools")["storage_pools"] if p["state"] == "online"]
        self.assertEqual(int(info["Capacity"]), sum(p["total_bytes"] for p in pools) // 2 // 4096 * 4096)

        # -- vol-create-as: thin, and with --allocation (fallocate)
        self.virsh("vol-create-as", POOL, "v1", "16M", "--format", "raw")
        self.virsh("vol-create-as", POOL, "v2", "8M", "--allocation", "8M", "--format", "raw")
        for name, size in (("v1", 16 * MiB), ("v2", 8 * MiB)):
            v = self.settled(name)
            self.assertEqual((v["size_bytes"], v["resource_group"]), (size, GROUP))
        listed = self.virsh("vol-list", POOL).stdout
        self.assertIn("v1", listed)
        self.assertIn("v2", listed)
        self.assertEqual(self.vol_info("v1")["Capacity"], f"{16 * MiB} bytes")

        # -- vol-resize: online grow; a shrink is refused
        self.virsh("vol-resize", "v1", "24M", "--pool", POOL)
        self.assertEqual(self.volume("v1")["size_bytes"], 24 * MiB)
        self.assertNotEqual(self.virsh("vol-resize", "v1", "8M", "--pool", POOL, "--shrink", check=False).returncode, 0)
        self.assertEqual(self.settled("v1")["size_bytes"], 24 * MiB)

        # -- vol-upload / vol-download: byte-exact
        data = os.urandom(24 * MiB)
        up, down = os.path.join(self.tmp, "up.img"), os.path.join(self.tmp, "down.img")
        with open(up, "wb") as f:
            f.write(data)
        self.virsh("vol-upload", "v1", up, "--pool", POOL)
        self.settled("v1")
        self.virsh("vol-download", "v1", down, "--pool", POOL)
        with open(down, "rb") as f:
            self.assertTrue(f.read() == data, "vol-download differs from vol-upload")
        # libvirt's allocation is the primary copy's (thin group: what was written).
        def allocations():
            self.virsh("pool-refresh", POOL)
            api_allocated = next(r["allocated_bytes"] for r in self.volume("v1")["replicas"] if r["primary"])
            return self.vol_info("v1")["Allocation"] == f"{api_allocated} bytes" and api_allocated >= 24 * MiB
        wait_for("vol-info's allocation of v1 to be the API's", allocations, 30)

        # -- vol-wipe: zeroes, same volume
        uuid = self.volume("v1")["uuid"]
        self.virsh("vol-wipe", "v1", "--pool", POOL)
        v = self.settled("v1")
        self.assertEqual((v["uuid"], v["size_bytes"]), (uuid, 24 * MiB))
        with open(self.cluster.backing_file("node1", uuid), "rb") as f:
            self.assertTrue(f.read(24 * MiB) == b"\0" * (24 * MiB), "vol-wipe left data")

        # -- vol-clone
        with open(up, "wb") as f:
            f.write(data[:8 * MiB])
        self.virsh("vol-upload", "v2", up, "--pool", POOL)
        self.virsh("vol-clone", "v2", "v3", "--pool", POOL)
        v3 = self.settled("v3")
        self.assertEqual(v3["size_bytes"], 8 * MiB)
        with open(self.cluster.backing_file("node2", v3["uuid"]), "rb") as f:
            self.assertTrue(f.read(8 * MiB) == data[:8 * MiB], "vol-clone differs")

        # -- vol-delete, refused while the file is in use
        holder = open(os.path.join(self.mount, "volumes", "v3"), "rb")
        refused = self.virsh("vol-delete", "v3", "--pool", POOL, check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("busy", refused.stderr.lower())
        self.assertEqual(self.volume("v3")["uuid"], v3["uuid"])
        holder.close()
        self.virsh("vol-delete", "v3", "--pool", POOL)
        with self.assertRaises(ApiError):
            self.volume("v3")

        # -- a TCG domain: v1 from the pool, v2 as an NBD network disk
        disk_v1 = self.tandem("libvirt", "disk-xml", "v1", "--target", "vdb")
        disk_v2 = self.tandem("libvirt", "disk-xml", "v2", "--nbd", "--target", "vdc")
        domain_xml = os.path.join(self.tmp, "domain.xml")
        with open(domain_xml, "w") as f:
            f.write(f"""<domain type='qemu'>
  <name>{DOMAIN}</name>
  <memory unit='MiB'>96</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disk_v1}
    {disk_v2}
    <memballoon model='none'/>
  </devices>
</domain>
""")
        self.virsh("define", "--validate", domain_xml)
        try:
            self.virsh("start", DOMAIN)
            aliases = {}
            for disk in ET.fromstring(self.virsh("dumpxml", DOMAIN).stdout).iter("disk"):
                aliases[disk.find("target").get("dev")] = disk.find("alias").get("name")
            # libvirt handed the disk to the qemu user (chown, kept by tandem-pool-fs).
            qemu_uid = pwd.getpwnam("libvirt-qemu").pw_uid
            self.assertEqual(os.stat(os.path.join(self.mount, "volumes", "v1")).st_uid, qemu_uid)
            # The domain holds v1 open for writing: attached here and primary here.
            att = api.get("/v1/volumes/v1/attachments")["attachments"]
            self.assertEqual([(a["host"], a["mode"]) for a in att], [("node1", "nbd")])
            self.assertEqual(self.volume("v1")["primary_node"], "node1")
            refused = self.virsh("vol-delete", "v1", "--pool", POOL, check=False)
            self.assertNotEqual(refused.returncode, 0, "vol-delete of a running domain's disk")
            # HMP's qemu-io runs on the device's own block backend; its report goes to QEMU's
            # stdout, the domain's log.
            for dev, pattern in (("vdb", "0x61"), ("vdc", "0x62")):
                for op in ("write", "read"):
                    out = self.virsh("qemu-monitor-command", DOMAIN, "--hmp",
                                     f'qemu-io -d /machine/peripheral/{aliases[dev]}/virtio-backend '
                                     f'"{op} -P {pattern} 1M 64k"').stdout
                    self.assertEqual(out.strip(), "", out)
            log = self.libvirt.domain_log(DOMAIN)
            wait_for("qemu-io's reports in the domain log",
                     lambda: read(log).count("bytes at offset 1048576") >= 4, 30)
            with open(log) as f:
                text = f.read()
            self.assertEqual(text.count("wrote 65536/65536 bytes at offset 1048576"), 2, text)
            self.assertEqual(text.count("read 65536/65536 bytes at offset 1048576"), 2, text)
            self.assertNotIn("Pattern verification failed", text)
        finally:
            self.virsh("destroy", DOMAIN, check=False)
            self.virsh("undefine", DOMAIN)
        wait_for("qemu gone", lambda: not qemu_pids(DOMAIN), 30)
        for name, pattern in (("v1", "0x61"), ("v2", "0x62")):
            v = self.settled(name)
            self.qemu_io(v["nbd_uri"], f"read -P {pattern} 1M 64k")

        # -- clean up through virsh; the pool's volumes go with vol-delete
        self.virsh("vol-delete", "v1", "--pool", POOL)
        self.virsh("vol-delete", "v2", "--pool", POOL)
        self.assertEqual([v["name"] for v in api.get("/v1/volumes")["volumes"] if v["resource_group"] == GROUP], [])
        self.virsh("pool-destroy", POOL)
        self.virsh("pool-undefine", POOL)

        # -- without tandem-pool-fs the pool does not start (no <mount>/volumes), not an empty dir
        self.assertEqual(self.fs.stop(), 0)
        self.fs = None
        self.assertFalse(mounted(self.mount))
        self.assertEqual(os.listdir(self.mount), [])
        self.virsh("pool-define", pool_xml)
        try:
            failed = self.virsh("pool-start", POOL, check=False)
            self.assertNotEqual(failed.returncode, 0, failed.stdout)
            self.assertEqual(os.listdir(self.mount), [])
        finally:
            self.virsh("pool-undefine", POOL)
