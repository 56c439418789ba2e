"""script/demo's body: start a local cluster, create a replicated volume with the `tandem` CLI
(which calls the REST API), write and read it with qemu-io over NBD, attach it as a block device
(root only: FUSE + loop) and read it there, print the status."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from localcluster import LocalCluster, wait_for  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--once", action="store_true", help="run the round trip and exit (0 only if it matched)")
    ap.add_argument("--size", default="256MiB")
    args = ap.parse_args()

    shutil.rmtree(args.root, ignore_errors=True)
    # Each node in its own (pretend) zone, so the resource group can spread replicas by zone.
    cluster = LocalCluster(args.root, args.bin_dir, nodes=3, heartbeat_timeout="6s", heartbeat_interval="1s",
                           node_args=lambda name: [f"--label=zone=zone-{name[-1]}"])
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ok = False
    attached = []  # hosts the demo volume is attached on (detached before stopping)
    try:
        print(f"== starting a controller and 3 node workers under {args.root}")
        cluster.start()
        env = dict(os.environ, TANDEM_URL=cluster.url, TANDEM_TOKEN=cluster.token, TANDEM_CA_FILE=cluster.ca)
        cli = os.path.join(args.bin_dir, "tandem")

        def tandem(*argv):
            print("$ tandem " + " ".join(argv), flush=True)
            subprocess.run([cli, *argv], env=env, check=True)

        tandem("node", "list")
        tandem("pool", "list")
        tandem("group", "create", "triple", "--replicas", "3", "--spread-by", "zone")
        tandem("volume", "create", "demo-vol", "--size", args.size, "--group", "triple")
        vol = cluster.wait_volume_state("demo-vol", "available", timeout=60)
        uri = vol["nbd_uri"]
        print(f"\n== writing and reading {uri} with qemu-io", flush=True)
        cmds = ["write -P 0x5a 0 16M", "write -P 0xa5 100M 8M", "flush",
                "read -P 0x5a 0 16M", "read -P 0xa5 100M 8M", "read -P 0x00 64M 1M"]
        argv = ["qemu-io", "-f", "raw", "-t", "writeback"]
        for c in cmds:
            argv += ["-c", c]
        p = subprocess.run(argv + [uri], capture_output=True, text=True)
        print(p.stdout + p.stderr)
        ok = p.returncode == 0 and "verification failed" not in (p.stdout + p.stderr) and \
            "failed" not in (p.stdout + p.stderr).lower()
        # The replicas' backing files must be byte-identical.
        vol = cluster.volume("demo-vol")
        files = [cluster.backing_file(r["node"], vol["uuid"]) for r in vol["replicas"]]
        same = all(subprocess.run(["cmp", "-s", files[0], f]).returncode == 0 for f in files[1:])
        print(f"== {len(files)} backing files identical: {'yes' if same else 'NO'}")
        ok = ok and same and len(files) == 3
        device = "-"
        if os.geteuid() == 0 and os.path.exists("/dev/fuse"):
            print("\n== attaching demo-vol as a block device on node1", flush=True)
            tandem("volume", "attach", "demo-vol", "--host", "node1")
            attached.append("node1")
            device = os.path.join(cluster.device_link_root("node1"), "demo-vol")
            wait_for("the block device", lambda: any(
                a["state"] == "attached" for a in cluster.api.get("/v1/volumes/demo-vol/attachments")["attachments"]),
                60)
            tandem("volume", "attachments", "demo-vol")
            with open(device, "rb", buffering=0) as f:
                same_data = f.read(1 << 20) == b"\x5a" * (1 << 20)
            print(f"== {device} -> {os.path.realpath(device)}: reads what qemu-io wrote: "
                  f"{'yes' if same_data else 'NO'}", flush=True)
            ok = ok and same_data
        else:
            print("\n== not root or no /dev/fuse: skipping the block-device attachment", flush=True)
        tandem("volume", "show", "demo-vol")
        tandem("volume", "list")
        uri = cluster.volume("demo-vol")["nbd_uri"]  # the attachment may have moved the primary
        print(f"\nNBD URI: {uri}\nblock device: {device}\nround trip: {'OK' if ok else 'FAILED'}", flush=True)
        if not args.once:
            print(f"Serving. Try: qemu-img info {uri}   (Ctrl-C stops everything)", flush=True)
            print(f"CLI: export TANDEM_URL={cluster.url} TANDEM_TOKEN={cluster.token} TANDEM_CA_FILE={cluster.ca}",
                  flush=True)
            stop.wait()
    except Exception as e:  # noqa: BLE001 - report and stop everything
        print(f"demo failed: {e}", file=sys.stderr)
        for name in ("controller.log", "node1.log", "node2.log", "node3.log"):
            path = os.path.join(args.root, name)
            if os.path.exists(path):
                print(f"----- {path}", file=sys.stderr)
                print("".join(open(path, errors="replace").readlines()[-20:]), file=sys.stderr)
        ok = False
    finally:
        for host in attached:  # the device's server is a process of its own: detach it first
            print(f"== detaching demo-vol from {host}", flush=True)
            try:
                cluster.api.call("DELETE", f"/v1/volumes/demo-vol/attachments/{host}?force=true")
            except Exception as e:  # noqa: BLE001 - report, go on stopping
                print(f"detach failed: {e}", file=sys.stderr)
        print("== stopping the cluster", flush=True)
        cluster.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
