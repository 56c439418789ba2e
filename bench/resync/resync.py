"""Full-resync benchmark: how long a returning replica takes to be up to date again.

Starts a local cluster (controller + 3 node workers, release build), fills a 3-replica volume of
SIZE_MIB with data through NBD, kills a secondary with -9, writes 1 MiB (so it must resync),
restarts it and times until the volume is available again. Baseline in the same run: copying the
same backing file with `cp` (the disk and page cache alone) and reading it with `cat > /dev/null`.
Then the same for a thin volume of the same size holding THIN_MIB (default 8) MiB, beside
`cp --sparse=always` of its backing file.
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
THIN_MIB = int(os.environ.get("THIN_MIB", "8"))
FULL = os.environ.get("FULL", "1") != "0"  # FULL=0: only the thin volume (large SIZE_MIB)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def resync_rounds(cluster, name, victim):
    """ROUNDS times: kill -9 `victim`, write 1 MiB to volume `name` (so its copy there is behind),
    restart it and time until the volume is available again."""
    uri = cluster.volume(name)["nbd_uri"]
    times = []
    for _ in range(ROUNDS):
        cluster.nodes[victim].kill9()
        wait_for("victim offline", lambda: cluster.node_state(victim) == "offline", 30)
        subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x33 0 1M", uri],
                       check=True, capture_output=True)
        wait_for("volume degraded", lambda: cluster.volume(name)["state"] != "available", 30)
        start = time.perf_counter()
        cluster.start_node(victim)
        cluster.wait_volume_state(name, "available", timeout=600)
        times.append(time.perf_counter() - start)
    return times


def main():
    bin_dir = sys.argv[1]
    root = tempfile.mkdtemp(prefix="tandem-resyncbench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    cluster = LocalCluster(root, bin_dir, nodes=3, controller_args=["--log-level=warn"],
                           heartbeat_interval="200ms")
    try:
        cluster.start()
        api = cluster.api
        api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        copy = os.path.join(root, "copy.img")
        rows = []
        times = []
        if FULL:
            # A full volume: every byte written.
            api.post("/v1/volumes", {"name": "rs", "size_bytes": SIZE_MIB << 20, "resource_group": "triple"})
            vol = cluster.wait_volume_state("rs", "available", timeout=120)
            subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P 0x5a 0 {SIZE_MIB}M",
                            vol["nbd_uri"]], check=True, capture_output=True)
            victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
            times = resync_rounds(cluster, "rs", victim)
            source = cluster.backing_file(vol["primary_node"], vol["uuid"])
            cp_s = timed(lambda: subprocess.run(["cp", "--sparse=never", source, copy], check=True))
            cat_s = timed(lambda: subprocess.run(f"cat {source} > /dev/null", shell=True, check=True))
            os.unlink(copy)
            api.call("DELETE", "/v1/volumes/rs")
            rows = [("Tandem resync, volume fully written (restart→available)", min(times)),
                    ("cp --sparse=never of its backing file", cp_s), ("cat of its backing file", cat_s)]
        # A thin volume of the same size holding THIN_MIB (its other blocks never written): the
        # sync sends its holes as zero frames, unread.
        api.post("/v1/volumes", {"name": "thin", "size_bytes": SIZE_MIB << 20, "resource_group": "triple"})
        thin = cluster.wait_volume_state("thin", "available", timeout=120)
        subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P 0x5a 64M {THIN_MIB}M", thin["nbd_uri"]],
                       check=True, capture_output=True)
        thin_victim = next(r["node"] for r in thin["replicas"] if not r["primary"])
        thin_times = resync_rounds(cluster, "thin", thin_victim)
        thin_source = cluster.backing_file(thin["primary_node"], thin["uuid"])
        sparse_cp_s = timed(lambda: subprocess.run(["cp", "--sparse=always", thin_source, copy], check=True))
        os.unlink(copy)

        print(f"\nfull resync of a {SIZE_MIB} MiB replica (3 replicas, loopback, this machine), best of {ROUNDS}")
        print(f"{'what':<52}{'seconds':>10}{'MiB/s':>10}")
        rows += [(f"Tandem resync, thin volume holding {THIN_MIB} MiB", min(thin_times)),
                 ("cp --sparse=always of its backing file", sparse_cp_s)]
        for what, secs in rows:
            print(f"{what:<52}{secs:>10.2f}{SIZE_MIB / secs:>10.0f}")
        print("resync rounds, full: " + ", ".join(f"{t:.2f}s" for t in times) +
              "; thin: " + ", ".join(f"{t:.2f}s" for t in thin_times))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
