"""bench/poolfs/run.sh's body: what the FUSE file of tandem-pool-fs costs. The same fio jobs
against one 1 GiB thin volume of a 1-replica group on a LocalCluster (controller + 1 node):

  raw             fio (libaio, O_DIRECT) on the volume's backing file: the disk's own cost
  nbd             fio's nbd engine on the node's UNIX socket (what tandem-pool-fs talks to)
  fuse            fio (libaio, O_DIRECT) on <mount>/volumes/<volume>: FUSE direct_io, default options
  fuse-splice     the same with tandem-pool-fs --splice
  fuse-c1         the same with one NBD connection per open volume (--connections=1; default 4)
  fuse-buffered   fio (psync, buffered, fsync at the end) on the FUSE file, no writeback cache
  fuse-writeback  the same with tandem-pool-fs --writeback-cache

Standard library only (Debian's /usr/bin/python3). Every process it starts is stopped and its
mount removed in a `finally`, also on SIGTERM (turned into SystemExit) and SIGINT.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "script", "lib"))
from localcluster import LocalCluster, wait_for  # noqa: E402

GiB = 1 << 30
VOLUME = "bench-fuse"
GROUP = "bench-fuse"

JOBS = [
    ("randwrite 4k QD1", ["--rw=randwrite", "--bs=4k", "--iodepth=1"]),
    ("randwrite 4k QD16", ["--rw=randwrite", "--bs=4k", "--iodepth=16"]),
    ("write 1M QD4", ["--rw=write", "--bs=1M", "--iodepth=4"]),
]
# target -> (tandem-pool-fs options or None for no mount, fio engine arguments, path kind)
TARGETS = {
    "raw": (None, ["--ioengine=libaio", "--direct=1"], "backing"),
    "nbd": (None, ["--ioengine=nbd"], "nbd"),
    "fuse": ([], ["--ioengine=libaio", "--direct=1"], "fuse"),
    "fuse-splice": (["--splice"], ["--ioengine=libaio", "--direct=1"], "fuse"),
    "fuse-c1": (["--connections=1"], ["--ioengine=libaio", "--direct=1"], "fuse"),
    "fuse-buffered": ([], ["--ioengine=psync", "--direct=0", "--end_fsync=1"], "fuse"),
    "fuse-writeback": (["--writeback-cache"], ["--ioengine=psync", "--direct=0", "--end_fsync=1"], "fuse"),
}


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


@contextlib.contextmanager
def pool_fs(cluster, work, bin_dir, options):
    mount = os.path.join(work, "mnt")
    os.makedirs(mount, exist_ok=True)
    log = open(os.path.join(work, "pool-fs.log"), "ab")
    proc = subprocess.Popen([os.path.join(bin_dir, "tandem-pool-fs"), f"--group={GROUP}", f"--mount={mount}",
                             f"--controller-url={cluster.url}", f"--token-file={cluster.service_token_file}",
                             f"--ca-file={cluster.ca}", "--node-name=node1",
                             f"--state-dir={os.path.join(work, 'pool-fs-state')}", *options],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("tandem-pool-fs mounted", lambda: mounted(mount) or proc.poll() is not None, 30)
        if proc.poll() is not None:
            raise RuntimeError(f"tandem-pool-fs exited {proc.returncode}")
        yield os.path.join(mount, "volumes", VOLUME)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if mounted(mount):
            subprocess.run(["umount", "-l", mount], check=False)
        log.close()


def run_fio(target_args, job_name, job_args, args, out_path):
    argv = ["fio", "--name=" + job_name.replace(" ", "-"), f"--size={GiB}", f"--runtime={args.runtime}",
            f"--ramp_time={args.ramp}", "--time_based", "--randrepeat=0", "--norandommap",
            "--output-format=json", "--output=" + out_path, *target_args, *job_args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=args.runtime + args.ramp + 180)
    if p.returncode != 0:
        raise RuntimeError(f"fio failed ({job_name}): {p.stdout}{p.stderr}")
    with open(out_path) as f:
        job = json.load(f)["jobs"][0]
    if job["error"]:
        raise RuntimeError(f"fio reported error {job['error']} ({job_name})")
    w = job["write"]
    return {"iops": w["iops"], "mib_s": w["bw_bytes"] / (1 << 20), "mean_us": w["clat_ns"]["mean"] / 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runtime", type=int, default=10)
    ap.add_argument("--ramp", type=int, default=2)
    ap.add_argument("--targets", default=",".join(TARGETS))
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t}; known: {', '.join(TARGETS)}")

    def on_term(*_):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    cluster = LocalCluster(os.path.join(args.work, "cluster"), os.path.abspath(args.bin_dir), nodes=1,
                           heartbeat_timeout="15s", heartbeat_interval="1s")
    results = {}
    load_before = os.getloadavg()[0]
    try:
        cluster.start()
        cluster.api.post("/v1/resource-groups", {"name": GROUP, "replicas": 1})
        cluster.api.post("/v1/volumes", {"name": VOLUME, "size_bytes": GiB, "resource_group": GROUP})
        vol = cluster.wait_volume_state(VOLUME, "available", timeout=120)
        socket_path = os.path.join(cluster.node_dir("node1"), "nbd.sock")
        backing = cluster.backing_file("node1", vol["uuid"])
        for t in targets:
            options, engine, kind = TARGETS[t]
            with contextlib.ExitStack() as stack:
                if kind == "fuse":
                    target_args = engine + ["--filename=" + stack.enter_context(
                        pool_fs(cluster, args.work, args.bin_dir, options))]
                elif kind == "nbd":
                    target_args = engine + [f"--uri=nbd+unix:///{VOLUME}?socket={socket_path}"]
                else:
                    target_args = engine + ["--filename=" + backing]
                print(f"== {t}", flush=True)
                for job_name, job_args in JOBS:
                    out = os.path.join(args.work, f"{t}-{job_name.replace(' ', '-')}.json")
                    r = run_fio(target_args, job_name, job_args, args, out)
                    results[(t, job_name)] = r
                    print(f"   {job_name:<18} {r['iops']:>10,.0f} IOPS {r['mib_s']:>9,.1f} MiB/s "
                          f"mean {r['mean_us']:>8,.0f} us", flush=True)
    finally:
        cluster.stop()
    print(f"\nload average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}\n")
    print("| job | " + " | ".join(targets) + " |")
    print("|---|" + "---|" * len(targets))
    for job_name, _ in JOBS:
        cells = []
        for t in targets:
            r = results.get((t, job_name))
            cells.append(f"{r['iops']:,.0f} / {r['mib_s']:,.1f} / {r['mean_us']:,.0f} µs" if r else "-")
        print(f"| {job_name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
