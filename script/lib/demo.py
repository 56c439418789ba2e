"""script/demo's body: start a local cluster, create a replicated volume with the `tandem` CLI
(which calls the REST API), write and read it with qemu-io over NBD, print the status."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from localcluster import LocalCluster  # noqa: E402


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
        tandem("volume", "show", "demo-vol")
        tandem("volume", "list")
        print(f"\nNBD URI: {uri}\nround trip: {'OK' if ok else 'FAILED'}", flush=True)
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
        print("== stopping the cluster", flush=True)
        cluster.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
