"""Lifecycle benchmark: snapshot write pause (idle and busy volume) and clone by reflink vs copy.

Part 1, snapshot pause: a local cluster (controller + 3 node workers, release build, their pools
on a loop-mounted XFS with reflink: on a file system without reflink, such as ext4, the file
provider's snapshot is a full copy and the pause lasts as long as the copy), a 3-replica volume
of 1 GiB. SNAPSHOTS snapshots are taken on the idle volume, then again while fio writes
4 KiB random blocks at QD16 through the nbd engine. The pause is what the primary's engine
measures while it holds back writes ("writes paused N us" in its log: flush, provider snapshot,
SNAPSHOT frame queued to every up-to-date peer). Baseline in the same run: fio's completion
latency percentiles without snapshots beside the run with them.

Part 2, clone: one node worker with two file pools, on a loop-mounted XFS (reflink=1) and ext4.
A 1-replica volume of CLONE_GIB filled with data, snapshotted, and a volume made from the
snapshot, timed from the request until the new volume is available: reflink on XFS, a copy on
ext4. Baseline: `cp --reflink=always` (XFS) and `cp` (ext4) of the volume's backing file.
Usage: bench/lifecycle/run.sh [bin-dir]. Not a test."""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster, wait_for  # noqa: E402

SNAPSHOTS = int(os.environ.get("SNAPSHOTS", "20"))
CLONE_GIB = int(os.environ.get("CLONE_GIB", "10"))
FIO_SECONDS = int(os.environ.get("FIO_SECONDS", "20"))
PAUSE = re.compile(r"snapshot (\S+) taken on \d+ node\(s\); writes paused (\d+) us")
HELD = re.compile(r"snapshot (\S+) taken as a replica; applying held (\d+) us")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def pauses_in_log(path, names):
    found = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = PAUSE.search(line)
            if m and m.group(1) in names:
                found[m.group(1)] = int(m.group(2))
    return [found[n] for n in names if n in found]


def replica_holds_in_logs(paths, names):
    """Per snapshot, the longest time a replica held back applying frames at its SNAPSHOT (every
    later write's acknowledgement waited that long); only replicas that staged it log this."""
    found = {}
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                m = HELD.search(line)
                if m and m.group(1) in names:
                    found[m.group(1)] = max(found.get(m.group(1), 0), int(m.group(2)))
    return [found[n] for n in names if n in found]


def take_snapshots(cluster, volume, prefix, count):
    """Takes `count` snapshots one after the other (each waited for, then deleted); returns the
    snapshot uuids (the names the engine logs) and each one's time from request to available (s)."""
    uuids, took = [], []
    for i in range(count):
        name = f"{prefix}-{i}"
        start = time.perf_counter()
        made = cluster.api.post(f"/v1/volumes/{volume}/snapshots", {"name": name})
        wait_for(f"snapshot {name}", lambda: cluster.api.get(
            f"/v1/volumes/{volume}/snapshots/{name}")["state"] == "available", 900, 0.02)
        took.append(time.perf_counter() - start)
        uuids.append(made["uuid"])
        if os.environ.get("DELETE", "1") != "0":
            cluster.api.call("DELETE", f"/v1/volumes/{volume}/snapshots/{name}")
    return uuids, took


def fio_nbd(uri, seconds):
    """fio 4 KiB random writes at QD16 over NBD for `seconds`; returns (iops, p50 us, p99 us, max us)."""
    argv = ["fio", "--name=w", "--ioengine=nbd", f"--uri={uri}", "--rw=randwrite", "--bs=4k", "--iodepth=16",
            "--size=1G", "--time_based", f"--runtime={seconds}", "--output-format=json"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]["write"]
    pct = job["clat_ns"]["percentile"]
    return job["iops"], pct["50.000000"] / 1000, pct["99.000000"] / 1000, job["clat_ns"]["max"] / 1000


def snapshot_pause(bin_dir, root, pools, precopy):
    """`pools`: a directory on the file system under test; node N's pool is pools/<run>/N.
    `precopy`: tandem-node --snapshot-precopy (false: the provider's whole snapshot inside the
    pause, the baseline)."""
    run = "precopy" if precopy else "at-cut"

    def node_args(name):
        os.makedirs(os.path.join(pools, run, name), exist_ok=True)
        return (f"--pool=default=file:{os.path.join(pools, run, name)}",
                f"--snapshot-precopy={'true' if precopy else 'false'}")
    cluster = LocalCluster(os.path.join(root, f"pause-{run}"), bin_dir, nodes=3, controller_args=["--log-level=warn"],
                           heartbeat_interval="200ms", node_args=node_args)
    try:
        cluster.start()
        cluster.api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        cluster.api.post("/v1/volumes", {"name": "sp", "size_bytes": 1 << 30, "resource_group": "triple"})
        vol = cluster.wait_volume_state("sp", "available", timeout=120)
        log = os.path.join(cluster.root, f"{vol['primary_node']}.log")
        replica_logs = [os.path.join(cluster.root, f) for f in os.listdir(cluster.root)
                        if f.endswith(".log") and f != f"{vol['primary_node']}.log"]
        subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x5a 0 256M", vol["nbd_uri"]],
                       check=True, capture_output=True)
        idle_uuids, idle_took = take_snapshots(cluster, "sp", "idle", SNAPSHOTS)
        base = fio_nbd(vol["nbd_uri"], FIO_SECONDS)
        fio = subprocess.Popen(["fio", "--name=w", "--ioengine=nbd", f"--uri={vol['nbd_uri']}", "--rw=randwrite",
                                "--bs=4k", "--iodepth=16", "--size=1G", "--time_based",
                                f"--runtime={FIO_SECONDS}", "--output-format=json"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # let the writer reach its steady state (a benchmark, not a test)
        busy_uuids, busy_took = take_snapshots(cluster, "sp", "busy", SNAPSHOTS)
        out, _ = fio.communicate()
        job = json.loads(out[out.index("{"):])["jobs"][0]["write"]
        pct = job["clat_ns"]["percentile"]
        with_snapshots = (job["iops"], pct["50.000000"] / 1000, pct["99.000000"] / 1000, job["clat_ns"]["max"] / 1000)
        return {
            "idle": pauses_in_log(log, idle_uuids), "busy": pauses_in_log(log, busy_uuids),
            "idle_held": replica_holds_in_logs(replica_logs, idle_uuids),
            "busy_held": replica_holds_in_logs(replica_logs, busy_uuids),
            "idle_took": idle_took, "busy_took": busy_took, "base": base, "loaded": with_snapshots,
        }
    finally:
        cluster.stop()


def loop_fs(root, name, size_gib, mkfs):
    image = os.path.join(root, f"{name}.img")
    mnt = os.path.join(root, name)
    os.makedirs(mnt)
    with open(image, "wb") as f:
        f.truncate(size_gib << 30)
    subprocess.run([*mkfs, image], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
    return mnt


def clone_times(bin_dir, root):
    xfs = loop_fs(root, "xfs", 3 * CLONE_GIB + 2, ["mkfs.xfs", "-q", "-m", "reflink=1"])
    ext4 = loop_fs(root, "ext4", 3 * CLONE_GIB + 2, ["mkfs.ext4", "-q", "-F"])
    cluster = LocalCluster(os.path.join(root, "clone"), bin_dir, nodes=1, controller_args=["--log-level=warn"],
                           heartbeat_interval="200ms",
                           node_args=lambda name: (f"--pool=xfs=file:{xfs}", f"--pool=ext4=file:{ext4}"))
    results = {}
    try:
        cluster.start()
        for pool in ("xfs", "ext4"):
            group = f"on-{pool}"
            cluster.api.post("/v1/resource-groups", {"name": group, "replicas": 1, "pools": [pool]})
            src = f"src-{pool}"
            cluster.api.post("/v1/volumes", {"name": src, "size_bytes": CLONE_GIB << 30, "resource_group": group})
            vol = cluster.wait_volume_state(src, "available", timeout=120)
            subprocess.run(["qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P 0x5c 0 {CLONE_GIB}G",
                            vol["nbd_uri"]], check=True, capture_output=True)
            cluster.api.post(f"/v1/volumes/{src}/snapshots", {"name": f"{src}-s"})
            wait_for("snapshot", lambda: cluster.api.get(
                f"/v1/volumes/{src}/snapshots/{src}-s")["state"] == "available", 600)
            start = time.perf_counter()
            cluster.api.post("/v1/volumes", {"name": f"copy-{pool}", "size_bytes": CLONE_GIB << 30,
                                             "resource_group": group,
                                             "source": {"volume": src, "snapshot": f"{src}-s"}})
            cluster.wait_volume_state(f"copy-{pool}", "available", timeout=1800)
            tandem_s = time.perf_counter() - start
            mount = xfs if pool == "xfs" else ext4
            backing = next(os.path.join(mount, f) for f in os.listdir(mount)
                           if f.startswith(vol["uuid"]) and "@" not in f)
            target = os.path.join(os.path.dirname(backing), "baseline.img")
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            subprocess.run(["cp", "--reflink=always" if pool == "xfs" else "--reflink=never", backing, target],
                           check=True)
            subprocess.run(["sync"], check=True)
            cp_s = time.perf_counter() - start
            os.unlink(target)
            results[pool] = (tandem_s, cp_s)
        return results
    finally:
        cluster.stop()
        for mnt in (xfs, ext4):
            subprocess.run(["umount", mnt], check=False)


def main():
    bin_dir = sys.argv[1]
    root = tempfile.mkdtemp(prefix="tandem-lifecyclebench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    try:
        pause_fs = loop_fs(root, "pausefs", 8, ["mkfs.xfs", "-q", "-m", "reflink=1"])
        try:
            runs = {"precopy": snapshot_pause(bin_dir, root, pause_fs, True)}
            if os.environ.get("BASELINE", "1") != "0":
                runs["at the cut (baseline)"] = snapshot_pause(bin_dir, root, pause_fs, False)
        finally:
            subprocess.run(["umount", pause_fs], check=False)
        print_pauses(runs)
        if os.environ.get("CLONES", "1") == "0":
            return
        clones = clone_times(bin_dir, root)
    finally:
        if os.environ.get("KEEP") == "1":
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_clones(clones)


def print_pauses(runs):
    def row(label, values, scale=1.0):
        if not values:
            return f"{label:<44}{'-':>10}{'-':>10}{'-':>10}"
        v = [x * scale for x in values]
        return f"{label:<44}{statistics.median(v):>10.0f}{percentile(v, 99):>10.0f}{max(v):>10.0f}"
    print(f"\nSnapshot write pause (3 replicas, 1 GiB, pools on XFS with reflink, {SNAPSHOTS} snapshots each)")
    print("primary: writes held (engine-measured); replicas: the longest a replica held applying frames;"
          " took: request to available")
    for run, r in runs.items():
        print(f"\n[{run}]")
        print(f"{'':<44}{'p50':>10}{'p99':>10}{'max':>10}")
        for vol in ("idle", "busy"):
            print(row(f"{vol}: primary pause (us)", r[vol]))
            print(row(f"{vol}: replica hold (us)", r[f"{vol}_held"]))
            print(row(f"{vol}: took (ms)", r[f"{vol}_took"], 1000))
        print(f"fio 4k randwrite QD16 over NBD, {FIO_SECONDS} s{'':<12}{'IOPS':>10}{'p50 us':>10}{'p99 us':>10}{'max us':>10}")
        for label, (iops, p50, p99, mx) in (("  without snapshots", r["base"]), (f"  with {SNAPSHOTS} snapshots", r["loaded"])):
            print(f"{label:<34}{iops:>10.0f}{p50:>10.0f}{p99:>10.0f}{mx:>10.0f}")
    sys.stdout.flush()


def print_clones(clones):
    print(f"\nVolume from a snapshot of a {CLONE_GIB} GiB volume (1 replica), request to available")
    print(f"{'file system':<28}{'Tandem s':>10}{'cp s':>10}")
    for pool, (tandem_s, cp_s) in clones.items():
        how = "reflink" if pool == "xfs" else "copy"
        print(f"{pool + ' (' + how + ')':<28}{tandem_s:>10.2f}{cp_s:>10.2f}")


if __name__ == "__main__":
    main()
