"""A mixed cluster of real processes: a `native` and a `drbd` resource group side by side
(issue 13). This machine has no DRBD kernel module, so DRBD capability is FAKED: node1 and node2
run with `--drbd-proc-file` pointing at a file written here that reads like a DRBD 9 host's
/proc/drbd; node3's points at a file that does not exist (like a host without the module).
node1/node2's DRBD commands are RECORDED, not run (`--drbd-command-runner=record:FILE`), and
their DRBD state is SCRIPTED events2 output the test appends to a file the worker tails
(`--drbd-events2-file`). What is real: the node workers' probe, drbd engine and status reports,
the controller's placement, allocation, desired state and volume states, the REST API and CLI.
- GET /v1/nodes shows each node's `drbd` capability as its worker reported it;
- drbd volumes go only to node1/node2, carry engine "drbd" and their DRBD resource (minor,
  node-ids, ports, shared secret) in the nodes' desired state; native volumes use all nodes;
- a drbd group needing a third capable node, and growing a drbd volume to 3 replicas, are
  refused with 422 drbd_not_available naming node3 and why;
- an unknown engine is 422 invalid_engine; `tandem group create --engine drbd` works;
- the node workers' drbd flow (recorded): create-md/adjust on both replicas, primary --force on
  the first writer, scripted events2 making the volume `available` through the controller, a
  block attachment at /dev/drbd/by-res/fv/0, a snapshot taken on both replicas between
  drbdsetup suspend-io and resume-io and reported available with both copies (revert refused),
  resize after growing, down + wipe-md on delete;
- NBD mode: an nbd attachment on the host without a replica makes it a diskless client (recorded)
  whose NBD server exports the DRBD device — a STAND-IN regular file under --drbd-device-dir — held
  open only while an NBD client (qemu-io) is connected; the volume's data streams through it."""

import http.client
import json
import os
import ssl
import subprocess

from clusterfixture import ApiError, ClusterTestCase, wait_for

MiB = 1 << 20
FAKE_PROC_DRBD = "version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: faked-by-test_drbd_placement\n"


class DrbdPlacementTest(ClusterTestCase):
    nodes = 3
    controller_args = ("--drbd-minors=2000-2099", "--drbd-ports=7100-7199")

    @classmethod
    def node_args_for(cls, name):
        path = os.path.join(cls.tmp, f"{name}-proc-drbd")
        if name in ("node1", "node2"):
            with open(path, "w") as f:
                f.write(FAKE_PROC_DRBD)
        if name not in ("node1", "node2"):
            return (f"--drbd-proc-file={path}",)
        open(cls.events2_file(name), "w").close()
        os.makedirs(cls.device_dir(name), exist_ok=True)
        return (f"--drbd-proc-file={path}", f"--drbd-command-runner=record:{cls.commands_file(name)}",
                f"--drbd-events2-file={cls.events2_file(name)}", f"--drbd-device-dir={cls.device_dir(name)}")

    @classmethod
    def device_dir(cls, name):
        """Node `name`'s --drbd-device-dir: STAND-IN DRBD devices (<dir>/<resource>/0 regular files
        written by the tests; no DRBD module here, so no /dev/drbd/by-res)."""
        return os.path.join(cls.tmp, f"{name}-by-res")

    @classmethod
    def commands_file(cls, name):
        return os.path.join(cls.tmp, f"{name}-drbd-commands")

    @classmethod
    def events2_file(cls, name):
        return os.path.join(cls.tmp, f"{name}-events2")

    def recorded(self, node):
        """The DRBD commands node worker `node` ran (recorded), each an argv list."""
        try:
            with open(self.commands_file(node)) as f:
                return [line.rstrip("\n").split("\t") for line in f]
        except FileNotFoundError:
            return []


    @classmethod
    def setUpClass(cls):
        print("NOTE: DRBD capability is faked (no DRBD kernel module here): node1/node2 read a written "
              "/proc/drbd file showing 9.2.8, node3 reads a missing one")
        super().setUpClass()

    def drbd_of(self, node):
        return next(n["drbd"] for n in self.cluster.api.get("/v1/nodes")["nodes"] if n["name"] == node)

    def test_mixed_cluster_places_each_engine_correctly(self):
        api = self.cluster.api
        wait_for("every node reported its DRBD capability",
                 lambda: all(self.drbd_of(n)["loaded"] for n in ("node1", "node2")) and
                 "not loaded" in self.drbd_of("node3")["reason"], 30)
        self.assertEqual(self.drbd_of("node1")["version"], "9.2.8")
        self.assertIsNone(self.drbd_of("node3")["version"])
        print("node3:", self.drbd_of("node3"))

        with self.assertRaises(ApiError) as bad:
            api.post("/v1/resource-groups", {"name": "raid", "engine": "raid"})
        self.assertEqual((bad.exception.status, bad.exception.code), (422, "invalid_engine"))

        self.tandem("group", "create", "dr", "--replicas", "2", "--engine", "drbd")
        self.assertEqual(api.get("/v1/resource-groups/dr")["engine"], "drbd")
        api.post("/v1/resource-groups", {"name": "nat", "replicas": 3})

        native = api.post("/v1/volumes", {"name": "nv", "size_bytes": 4 * MiB, "resource_group": "nat"})
        self.assertEqual(native["engine"], "native")
        self.assertEqual(sorted(r["node"] for r in native["replicas"]), ["node1", "node2", "node3"])
        for i in range(3):
            v = api.post("/v1/volumes", {"name": f"dv{i}", "size_bytes": 4 * MiB, "resource_group": "dr"})
            self.assertEqual(v["engine"], "drbd")
            self.assertEqual(sorted(r["node"] for r in v["replicas"]), ["node1", "node2"], v)
        shown = self.tandem("volume", "show", "dv0").stdout
        self.assertIn("drbd", shown)

        # Each drbd volume's resource is in both nodes' desired state, with distinct minors.
        minors = set()
        for node in ("node1", "node2"):
            status, desired = api.call("GET", f"/v1/internal/nodes/{node}/desired?after=0")
            self.assertEqual(status, 200)
            by_name = {r["volume"]["name"]: r for r in desired["replicas"]}
            self.assertNotIn("drbd", by_name["nv"])
            for i in range(3):
                res = by_name[f"dv{i}"]["drbd"]
                self.assertEqual(res["resource"], f"dv{i}")
                self.assertEqual(sorted(h["node"] for h in res["hosts"]), ["node1", "node2"])
                self.assertEqual(sorted(h["node_id"] for h in res["hosts"]), [0, 1])
                self.assertTrue(all(7100 <= h["port"] <= 7199 for h in res["hosts"]), res)
                self.assertTrue(res["shared_secret"])
                minors.add(res["minor"])
        self.assertEqual(len(minors), 3, minors)
        self.assertTrue(all(2000 <= m <= 2099 for m in minors), f"--drbd-minors: {minors}")
        print("drbd minors:", sorted(minors))

        with self.assertRaises(ApiError) as grow:
            api.call("PATCH", "/v1/volumes/dv0", {"replicas": 3})
        self.assertEqual((grow.exception.status, grow.exception.code), (422, "drbd_not_available"))
        self.assertIn("node 'node3'", str(grow.exception))
        api.post("/v1/resource-groups", {"name": "dr3", "replicas": 3, "engine": "drbd"})
        with self.assertRaises(ApiError) as refused:
            api.post("/v1/volumes", {"name": "dv3", "size_bytes": 4 * MiB, "resource_group": "dr3"})
        self.assertEqual((refused.exception.status, refused.exception.code), (422, "drbd_not_available"))
        self.assertIn("node 'node3': the DRBD 9 kernel module is not loaded", str(refused.exception))
        print("refused:", refused.exception)

    def test_node_workers_run_the_drbd_flow_recorded(self):
        """create-md/adjust/primary on both nodes, scripted events2 makes the volume available
        through the controller, grow runs resize, delete runs down + wipe-md (all recorded)."""
        api = self.cluster.api
        wait_for("node1/node2 report DRBD", lambda: self.drbd_of("node1")["loaded"] and self.drbd_of("node2")["loaded"], 30)
        api.post("/v1/resource-groups", {"name": "flow", "replicas": 2, "engine": "drbd"})
        v = api.post("/v1/volumes", {"name": "fv", "size_bytes": 4 * MiB, "resource_group": "flow"})
        primary = v["primary_node"]
        secondary = "node2" if primary == "node1" else "node1"
        for node in ("node1", "node2"):
            wait_for(f"{node} created fv (recorded)",
                     lambda: any(a[0] == "drbdmeta" and a[-2:] == ["create-md", "7"] for a in self.recorded(node)) and
                     any(a[0] == "drbdadm" and a[-2:] == ["adjust", "fv"] for a in self.recorded(node)), 30)
            # drbdadm's parser checked the file acting as each host (recorded too).
            self.assertTrue(any(a[0] == "env" and "__DRBD_NODE__=node1" in a and a[-1] == "sh-nop"
                                for a in self.recorded(node)))
        wait_for("the first writer forced primary",
                 lambda: any(a[-3:] == ["primary", "--force", "fv"] for a in self.recorded(primary)), 30)
        self.assertFalse(any("primary" in a and a[-1] == "fv" for a in self.recorded(secondary)),
                         self.recorded(secondary))
        minor = str(self.desired_drbd(primary, "fv")["minor"])  # (other tests' volumes have their own)
        self.assertIn(["drbdmeta", "--force", minor], [a[:3] for a in self.recorded(primary)])

        # Scripted events2 (real line formats): both disks UpToDate and connected.
        ids = {h["node"]: h["node_id"] for h in self.desired_drbd(primary, "fv")["hosts"]}
        for node, other, role in ((primary, secondary, "Primary"), (secondary, primary, "Secondary")):
            with open(self.events2_file(node), "a") as f:
                f.write(f"exists resource name:fv role:{role} suspended:no\n"
                        f"exists connection name:fv peer-node-id:{ids[other]} conn-name:{other} connection:Connected "
                        f"role:{'Secondary' if role == 'Primary' else 'Primary'}\n"
                        f"exists device name:fv volume:0 minor:{minor} disk:UpToDate client:no quorum:yes\n"
                        f"exists peer-device name:fv peer-node-id:{ids[other]} conn-name:{other} volume:0 "
                        f"replication:Established peer-disk:UpToDate\n"
                        "exists -\n")
        view = self.cluster.wait_volume_state("fv", "available", timeout=30)
        print("fv through the controller:", view["state"], [(r["node"], r["state"]) for r in view["replicas"]])

        # A block attachment of a drbd volume is DRBD's own device, /dev/drbd/by-res/<resource>/0.
        status, _ = api.call("POST", "/v1/volumes/fv/attachments", {"host": secondary, "mode": "block"})
        self.assertIn(status, (200, 201))

        def attachment():
            found = api.get("/v1/volumes/fv/attachments")["attachments"]
            return found[0] if found and found[0]["state"] == "attached" else None
        att = wait_for("the attachment is attached", attachment, 30)
        # (/dev/drbd/by-res on a DRBD host; here the node's --drbd-device-dir of stand-ins)
        self.assertEqual(att["connection_info"]["data"]["device_path"], os.path.join(self.device_dir(secondary), "fv", "0"))
        status, _ = api.call("DELETE", f"/v1/volumes/fv/attachments/{secondary}")
        self.assertEqual(status, 204)
        # Not attached in nbd mode: the volume is served by its primary's export (see
        # test_nbd_attachment_exports_the_drbd_device).
        self.assertEqual(api.get("/v1/volumes/fv")["nbd_uri"], f"nbd://127.0.0.1:{self.nbd_port(primary)}/fv")

        # A snapshot: each diskful replica suspends DRBD I/O, snapshots its backing volume and
        # resumes I/O (recorded); the controller marks it available with both copies.
        api.post("/v1/volumes/fv/snapshots", {"name": "fv-s1"})

        def snapshot_ready():
            s = api.get("/v1/volumes/fv/snapshots/fv-s1")
            return s if s["state"] == "available" and sorted(s["copies"]) == ["node1", "node2"] else None
        snap = wait_for("fv-s1 available with a copy on each replica", snapshot_ready, 30)
        print("fv-s1 through the controller:", snap["state"], snap["copies"])
        for node in ("node1", "node2"):
            calls = [a for a in self.recorded(node) if a[0] == "drbdsetup"]
            self.assertEqual(calls, [["drbdsetup", "suspend-io", minor], ["drbdsetup", "resume-io", minor]], calls)
        # Reverting a drbd volume is refused (each copy is its own; docs/drbd.md).
        with self.assertRaises(ApiError) as refused:
            api.call("POST", "/v1/volumes/fv/snapshots/fv-s1/revert", {})
        self.assertEqual((refused.exception.status, refused.exception.code), (422, "not_implemented"))
        status, _ = api.call("DELETE", "/v1/volumes/fv/snapshots/fv-s1")
        self.assertEqual(status, 204)

        status, _ = api.call("PATCH", "/v1/volumes/fv", {"size_bytes": 8 * MiB})
        self.assertEqual(status, 200)
        for node in ("node1", "node2"):
            wait_for(f"{node} grew its backing and resized fv",
                     lambda: any(a[-2:] == ["resize", "fv/0"] for a in self.recorded(node)), 30)

        status, _ = api.call("DELETE", "/v1/volumes/fv")
        self.assertEqual(status, 204)
        for node in ("node1", "node2"):
            wait_for(f"{node} took fv down and wiped its metadata",
                     lambda: any(a[-2:] == ["down", "fv"] for a in self.recorded(node)) and
                     any(a[0] == "drbdmeta" and a[-1] == "wipe-md" for a in self.recorded(node)), 30)
        print(f"recorded on {primary} (not run: no DRBD module here):")
        for argv in self.recorded(primary):
            if argv[0] != "env":
                print("   ", " ".join(argv))

    def nbd_port(self, node):
        return next(n["nbd_port"] for n in self.cluster.api.get("/v1/nodes")["nodes"] if n["name"] == node)

    def open_by(self, node, path):
        """How many descriptors node worker `node` holds open on `path` (from /proc/<pid>/fd)."""
        pid = self.cluster.nodes[node].proc.pid
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}") == path
            except OSError:
                pass
        return n

    def stream(self, method, volume, body=None):
        """GET or PUT /v1/volumes/{volume}/data: (status, body bytes)."""
        host, port = self.cluster.url[len("https://"):].rsplit(":", 1)
        c = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=self.cluster.ca),
                                        timeout=60)
        headers = {"Authorization": "Bearer " + self.cluster.token}
        if body is not None:
            headers.update({"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"})
        c.request(method, f"/v1/volumes/{volume}/data", body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def test_nbd_attachment_exports_the_drbd_device(self):
        """An nbd attachment of a drbd volume on a host without a replica: the host becomes a
        diskless client (recorded) and its NBD server exports /dev/drbd/by-res/nb/0 — here a
        STAND-IN file, since this machine has no DRBD module — opened only while an NBD client is
        connected; real qemu-io writes and reads through it; the volume's data streams through
        it; detaching unexports it and takes the client down."""
        api = self.cluster.api
        print("NOTE: the DRBD device /dev/drbd/by-res/nb/0 is a STAND-IN regular file on each node "
              "(--drbd-device-dir): the DRBD kernel module is missing here, so no real DRBD device exists")
        wait_for("node1/node2 report DRBD", lambda: self.drbd_of("node1")["loaded"] and self.drbd_of("node2")["loaded"], 30)
        for node in ("node1", "node2"):
            os.makedirs(os.path.join(self.device_dir(node), "nb"), exist_ok=True)
            with open(os.path.join(self.device_dir(node), "nb", "0"), "wb") as f:
                f.truncate(4 * MiB)
        api.post("/v1/resource-groups", {"name": "one", "replicas": 1, "engine": "drbd"})
        v = api.post("/v1/volumes", {"name": "nb", "size_bytes": 4 * MiB, "resource_group": "one"})
        primary = v["primary_node"]
        client = "node2" if primary == "node1" else "node1"
        self.assertEqual([r["node"] for r in v["replicas"]], [primary])
        self.assertEqual(v["nbd_uri"], f"nbd://127.0.0.1:{self.nbd_port(primary)}/nb", "the primary's export")
        minor = str(self.desired_drbd(primary, "nb")["minor"])
        wait_for(f"{primary} created nb (recorded)",
                 lambda: any(a[-2:] == ["adjust", "nb"] for a in self.recorded(primary)), 30)
        with open(self.events2_file(primary), "a") as f:
            f.write(f"exists resource name:nb role:Secondary suspended:no\n"
                    f"exists device name:nb volume:0 minor:{minor} disk:UpToDate client:no quorum:yes\n"
                    "exists -\n")
        self.cluster.wait_volume_state("nb", "available", timeout=30)

        status, att = api.call("POST", "/v1/volumes/nb/attachments", {"host": client, "mode": "nbd"})
        self.assertEqual(status, 201, att)
        uri = f"nbd://127.0.0.1:{self.nbd_port(client)}/nb"
        self.assertEqual(att["connection_info"]["data"]["uri"], uri, "the attachment's host serves it")
        self.assertEqual(api.get("/v1/volumes/nb")["nbd_uri"], uri)
        # The client host runs the resource diskless: .res written and adjusted, no metadata.
        wait_for(f"{client} brought up nb as a diskless client (recorded)",
                 lambda: any(a[-2:] == ["adjust", "nb"] for a in self.recorded(client)), 30)
        client_calls = [a for a in self.recorded(client) if a[0] != "env" and "nb" in a[-1]]
        self.assertFalse(any(a[0] == "drbdmeta" for a in client_calls), client_calls)
        hosts = {h["node"]: h["diskful"] for h in self.desired_drbd(primary, "nb")["hosts"]}
        self.assertEqual(hosts, {primary: True, client: False})
        with open(os.path.join(self.cluster.node_dir(client), "drbd", "res", "nb.res")) as f:
            res = f.read()
        self.assertIn("disk none;", res)

        def attached():
            found = api.get("/v1/volumes/nb/attachments")["attachments"]
            return found[0] if found and found[0]["state"] == "attached" else None
        wait_for("the nbd attachment is attached", attached, 30)

        stand_in = os.path.join(self.device_dir(client), "nb", "0")
        primary_stand_in = os.path.join(self.device_dir(primary), "nb", "0")
        self.assertEqual(self.open_by(client, stand_in), 0, "an idle export holds the device closed")
        # A real NBD client writes and reads through the export into the stand-in device.
        self.qemu_io(uri, "write -P 0x5a 0 64k", "read -P 0x5a 0 64k", "write -P 0xa5 1M 4k")
        with open(stand_in, "rb") as f:
            self.assertEqual(f.read(65536), b"\x5a" * 65536)
            f.seek(MiB)
            self.assertEqual(f.read(4096), b"\xa5" * 4096)
        with open(primary_stand_in, "rb") as f:
            self.assertEqual(f.read(65536), bytes(65536), "the client host's export, not the primary's")
        wait_for("the device is closed once qemu-io left", lambda: self.open_by(client, stand_in) == 0, 10)

        # While a client is connected the device is open (DRBD would auto-promote this host);
        # when it leaves, it is closed (auto-demote).
        held = subprocess.Popen(["qemu-io", "-f", "raw", uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            wait_for("the device is open while qemu-io is connected", lambda: self.open_by(client, stand_in) == 1, 10)
            out, _ = held.communicate("read -P 0x5a 0 4k\nquit\n", timeout=30)
            self.assertNotIn("fail", out, out)
        finally:
            if held.poll() is None:
                held.kill()
        wait_for("the device is closed after the last client left", lambda: self.open_by(client, stand_in) == 0, 10)

        # The volume's data streams through the same export (its nbd_uri).
        status, data = self.stream("GET", "nb")
        self.assertEqual(status, 200)
        self.assertEqual(data[:65536], b"\x5a" * 65536)
        self.assertEqual(data[MiB:MiB + 4096], b"\xa5" * 4096)

        # Detach: the export goes and the diskless client is taken down.
        status, _ = api.call("DELETE", f"/v1/volumes/nb/attachments/{client}")
        self.assertEqual(status, 204)
        wait_for(f"{client} took the client down (recorded)",
                 lambda: any(a[-2:] == ["down", "nb"] for a in self.recorded(client)), 30)
        listed = subprocess.run(["nbdinfo", "--list", f"nbd://127.0.0.1:{self.nbd_port(client)}"],
                                capture_output=True, text=True, timeout=30)
        self.assertNotIn('"nb"', listed.stdout, listed.stdout)
        after = api.get("/v1/volumes/nb")
        self.assertEqual(after["nbd_uri"], f"nbd://127.0.0.1:{self.nbd_port(primary)}/nb")
        self.assertEqual([r["node"] for r in after["replicas"]], [primary], "the client is gone")

        # Not attached: PUT data goes through the primary's export into its (stand-in) device.
        image = bytes([7]) * (4 * MiB)
        status, _ = self.stream("PUT", "nb", image)
        self.assertEqual(status, 200)
        with open(primary_stand_in, "rb") as f:
            self.assertEqual(f.read(), image)
        wait_for("the primary's device is closed after the PUT", lambda: self.open_by(primary, primary_stand_in) == 0, 10)
        status, _ = api.call("DELETE", "/v1/volumes/nb")
        self.assertEqual(status, 204)
        print(f"recorded on {client} for nb (not run: no DRBD module here):")
        for argv in self.recorded(client):
            if argv[0] != "env" and argv[-1].startswith("nb"):
                print("   ", " ".join(argv))

    def desired_drbd(self, node, volume):
        status, desired = self.cluster.api.call("GET", f"/v1/internal/nodes/{node}/desired?after=0")
        return next(r["drbd"] for r in desired["replicas"] if r["volume"]["name"] == volume)
