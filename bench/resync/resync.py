"""Full-resync benchmark: how long a returning replica takes to be up to date again.

Starts a local cluster (controller + 3 node workers, release build), fills a 3-replica volume of
SIZE_MIB with data through NBD, kills a secondary with -9, writes 1 MiB (so it must resync),
restarts it and times until the volume is available again. Baseline in the same run: copying the
same backing file with `cp` (the disk and page cache alone) and reading it with `cat > /dev/null`.
Not a test (never in ctest). Usage: bench/resync/run.sh [bin-dir]."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster, wait_for  # noqa: E402

SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    bin_dir = sys.argv[1]
    root = tempfile.mkdtemp(prefix="tandem-resyncbench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    cluster = LocalCluster(root, bin_dir, nodes=3, controller_args=["--log-level=warn"],
                           heartbeat_interval="200ms")
    try:
        cluster.start()
        api = cluster.api
        api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        api.post("/v1/volumes", {"name": "rs", "size_bytes": SIZE_MIB << 20, "resource_group": "triple"})
        vol = cluster.wait_volume_state("rs", "available", timeout=120)
        uri = vol["nbd_uri"]
        subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P 0x5a 0 {SIZE_MIB}M", uri],
                       check=True, capture_output=True)
        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        primary = vol["primary_node"]
        times = []
        for _ in range(ROUNDS):
            cluster.nodes[victim].kill9()
            wait_for("victim offline", lambda: cluster.node_state(victim) == "offline", 30)
            subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x33 0 1M", uri],
                           check=True, capture_output=True)
            wait_for("volume degraded", lambda: cluster.volume("rs")["state"] != "available", 30)
            start = time.perf_counter()
            cluster.start_node(victim)
            cluster.wait_volume_state("rs", "available", timeout=600)
            times.append(time.perf_counter() - start)
        source = cluster.backing_file(primary, vol["uuid"])
        copy = os.path.join(root, "copy.img")
        cp_s = timed(lambda: subprocess.run(["cp", "--sparse=never", source, copy], check=True))
        cat_s = timed(lambda: subprocess.run(f"cat {source} > /dev/null", shell=True, check=True))
        os.unlink(copy)
        best = min(times)
        print(f"\nfull resync of a {SIZE_MIB} MiB replica (3 replicas, loopback, this machine), best of {ROUNDS}")
        print(f"{'what':<34}{'seconds':>10}{'MiB/s':>10}")
        for what, secs in (("Tandem full resync (restart→available)", best), ("cp of the backing file", cp_s),
                           ("cat of the backing file", cat_s)):
            print(f"{what:<34}{secs:>10.2f}{SIZE_MIB / secs:>10.0f}")
        print("all resync rounds: " + ", ".join(f"{t:.2f}s" for t in times))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
