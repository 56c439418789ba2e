"""bench/nbd/run.sh's body: the same fio jobs (fio's nbd engine, over TCP on 127.0.0.1) against
NBD reference servers and Tandem, printed side by side.

Targets, each on a fresh 1 GiB sparse file / thin volume, one at a time:
  nbdkit      nbdkit file plugin (page cache, 16 threads)
  qemu-nbd    qemu-nbd -f raw --cache=writeback --aio=threads (page cache, like the others)
  nbd-serve   tandem-nbd-serve --file F (Tandem's NBD server on a FileBlockDevice, no engine)
  tandem-r1   a Tandem volume with 1 replica (NBD + replication engine, no peers) via LocalCluster
  tandem-r3   a Tandem volume with 3 replicas (protocol C to two peers over loopback)

Standard library only (runs on Debian's /usr/bin/python3). Every process it starts is stopped in
a `finally`, also on SIGTERM (turned into SystemExit) and SIGINT.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "script", "lib"))
from localcluster import LocalCluster, wait_for  # noqa: E402

GiB = 1 << 30

# name, fio arguments. All write jobs send plain writes (no FUA, no flush) so that every target
# is measured on the same path: data acknowledged once it is in the server's page cache (and, for
# tandem-r3, in both peers' page caches). The read job runs last, on data the writes left behind.
JOBS = [
    ("randwrite 4k QD1", ["--rw=randwrite", "--bs=4k", "--iodepth=1"]),
    ("randwrite 4k QD16", ["--rw=randwrite", "--bs=4k", "--iodepth=16"]),
    ("write 1M QD4", ["--rw=write", "--bs=1M", "--iodepth=4"]),
    ("randread 4k QD16", ["--rw=randread", "--bs=4k", "--iodepth=16"]),
]
TARGETS = ["nbdkit", "qemu-nbd", "nbd-serve", "tandem-r1", "tandem-r3"]


def free_port():
    """A TCP port that was free a moment ago (for servers that cannot report port 0 back)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """One reference/Tandem server process in its own session; stop() is idempotent."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


def sparse_file(work, name, size):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@contextlib.contextmanager
def external_server(name, work, size, argv_for):
    """nbdkit / qemu-nbd on a fresh sparse file and a port picked here; yields the NBD URI."""
    path = sparse_file(work, name + ".img", size)
    port = free_port()
    server = Server(name, argv_for(path, port), os.path.join(work, name + ".log"))
    try:
        wait_for(f"{name} listening on {port}", lambda: not server.alive() or port_open(port), 30)
        if not server.alive():
            raise RuntimeError(f"{name} exited; see {work}/{name}.log")
        yield f"nbd://127.0.0.1:{port}/bench"
    finally:
        server.stop()
        os.unlink(path)


def nbdkit(work, size, _args):
    return external_server("nbdkit", work, size, lambda path, port: [
        "nbdkit", "-f", "--exit-with-parent", "-i", "127.0.0.1", "-p", str(port), "-e", "bench", "file", path])


def qemu_nbd(work, size, _args):
    return external_server("qemu-nbd", work, size, lambda path, port: [
        "qemu-nbd", "-f", "raw", "-t", "-b", "127.0.0.1", "-p", str(port), "-x", "bench",
        "--cache=writeback", "--aio=threads", path])


@contextlib.contextmanager
def nbd_serve(work, size, args):
    path = sparse_file(work, "nbd-serve.img", size)
    server = Server("nbd-serve", [os.path.join(args.bin_dir, "tandem-nbd-serve"), "--file", path,
                                  "--export", "bench", "--port", "0", "--log-level", "warn"],
                    os.path.join(work, "nbd-serve.log"))
    try:
        port = None
        for line in server.proc.stdout:  # "port N" then "ready"
            words = line.decode().split()
            if words[:1] == ["port"]:
                port = int(words[1])
            if words[:1] == ["ready"]:
                break
        if port is None or not server.alive():
            raise RuntimeError(f"tandem-nbd-serve did not start; see {work}/nbd-serve.log")
        yield f"nbd://127.0.0.1:{port}/bench"
    finally:
        server.stop()
        os.unlink(path)


class Cluster:
    """One LocalCluster (controller + 3 nodes) shared by the tandem-r1 and tandem-r3 targets."""

    def __init__(self, work, bin_dir):
        self.root = os.path.join(work, "cluster")
        self.bin_dir = bin_dir
        self.cluster = None

    def get(self):
        if self.cluster is None:
            # Generous heartbeats: fio keeps both vCPUs busy and a missed heartbeat would degrade
            # the volume in the middle of a measurement.
            self.cluster = LocalCluster(self.root, self.bin_dir, nodes=3, heartbeat_timeout="15s",
                                        heartbeat_interval="1s")
            self.cluster.start()
            api = self.cluster.api
            api.post("/v1/resource-groups", {"name": "bench-r1", "replicas": 1})
            api.post("/v1/resource-groups", {"name": "bench-r3", "replicas": 3})
        return self.cluster

    def stop(self):
        if self.cluster is not None:
            self.cluster.stop()

    def log_tails(self):
        out = []
        if os.path.isdir(self.root):
            for name in sorted(os.listdir(self.root)):
                if name.endswith(".log"):
                    with open(os.path.join(self.root, name), errors="replace") as f:
                        out.append(f"----- {name}\n" + "".join(f.readlines()[-15:]))
        return "\n".join(out)


def tandem_volume(replicas):
    @contextlib.contextmanager
    def target(_work, size, args):
        cluster = args.cluster.get()
        name = f"bench-r{replicas}"
        cluster.api.post("/v1/volumes", {"name": name, "size_bytes": size, "resource_group": f"bench-r{replicas}"})
        try:
            # "available": every replica up to date (for r3: the initial full sync is over).
            vol = cluster.wait_volume_state(name, "available", timeout=180)
            yield vol["nbd_uri"]
        finally:
            # Delete it so that its replicas stop costing anything during the next target.
            with contextlib.suppress(Exception):
                cluster.api.call("DELETE", f"/v1/volumes/{name}")
                wait_for(f"{name} deleted", lambda: not any(v["name"] == name for v in
                                                            cluster.api.get("/v1/volumes")["volumes"]), 60)
    return target


TARGET_FACTORIES = {
    "nbdkit": nbdkit,
    "qemu-nbd": qemu_nbd,
    "nbd-serve": nbd_serve,
    "tandem-r1": tandem_volume(1),
    "tandem-r3": tandem_volume(3),
}


def run_fio(uri, job_name, job_args, args, out_path):
    argv = ["fio", "--name=" + job_name.replace(" ", "-"), "--ioengine=nbd", "--uri=" + uri,
            f"--size={args.size}", f"--runtime={args.runtime}", f"--ramp_time={args.ramp}", "--time_based",
            "--randrepeat=0", "--norandommap", "--output-format=json", "--output=" + out_path, *job_args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=args.runtime + args.ramp + 120)
    if p.returncode != 0:
        raise RuntimeError(f"fio failed on {uri} ({job_name}): {p.stdout}{p.stderr}")
    with open(out_path) as f:
        job = json.load(f)["jobs"][0]
    if job["error"]:
        raise RuntimeError(f"fio reported error {job['error']} on {uri} ({job_name})")
    side = job["read"] if job["read"]["io_bytes"] else job["write"]
    clat = side["clat_ns"]
    return {
        "iops": side["iops"],
        "mib_s": side["bw_bytes"] / (1 << 20),
        "mean_us": clat["mean"] / 1000,
        "p99_us": clat.get("percentile", {}).get("99.000000", 0) / 1000,
    }


METRICS = [("IOPS", "iops", "{:,.0f}"), ("MiB/s", "mib_s", "{:,.1f}"),
           ("mean us", "mean_us", "{:,.0f}"), ("p99 us", "p99_us", "{:,.0f}")]


def table(results, targets):
    col = 12
    lines = [f"{'job':<19}{'metric':<9}" + "".join(f"{t:>{col}}" for t in targets)]
    lines.append("-" * len(lines[0]))
    for job_name, _ in JOBS:
        for i, (label, key, fmt) in enumerate(METRICS):
            cells = []
            for t in targets:
                r = results.get((t, job_name))
                cells.append(fmt.format(r[key]) if isinstance(r, dict) else (r or "-"))
            lines.append(f"{job_name if i == 0 else '':<19}{label:<9}" + "".join(f"{c:>{col}}" for c in cells))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work", required=True, help="scratch directory (files, logs, cluster state)")
    ap.add_argument("--runtime", type=int, default=10, help="seconds measured per job")
    ap.add_argument("--ramp", type=int, default=2, help="seconds of warm-up per job, not measured")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--json-dir", help="keep fio's JSON output here")
    args = ap.parse_args()
    args.size = GiB
    args.bin_dir = os.path.abspath(args.bin_dir)
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in TARGET_FACTORIES:
            ap.error(f"unknown target {t}; known: {', '.join(TARGETS)}")
    json_dir = args.json_dir or os.path.join(args.work, "fio")
    os.makedirs(json_dir, exist_ok=True)

    def on_term(*_):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    args.cluster = Cluster(args.work, args.bin_dir)
    results = {}
    failed = False
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        for t in targets:
            t0 = time.monotonic()
            try:
                with TARGET_FACTORIES[t](args.work, args.size, args) as uri:
                    print(f"== {t}: {uri}", flush=True)
                    for job_name, job_args in JOBS:
                        out = os.path.join(json_dir, f"{t}-{job_name.replace(' ', '-')}.json")
                        r = run_fio(uri, job_name, job_args, args, out)
                        results[(t, job_name)] = r
                        print(f"   {job_name:<18} {r['iops']:>10,.0f} IOPS {r['mib_s']:>9,.1f} MiB/s "
                              f"mean {r['mean_us']:>7,.0f} us  p99 {r['p99_us']:>7,.0f} us", flush=True)
            except (RuntimeError, TimeoutError, OSError) as e:
                failed = True
                print(f"!! {t} failed: {e}", file=sys.stderr, flush=True)
                if t.startswith("tandem-"):
                    print(args.cluster.log_tails(), file=sys.stderr)
                for job_name, _ in JOBS:
                    results.setdefault((t, job_name), "failed")
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        args.cluster.stop()

    print()
    print(f"fio {subprocess.run(['fio', '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"ioengine=nbd over TCP 127.0.0.1, 1 GiB sparse target, {args.runtime} s per job after "
          f"{args.ramp} s ramp, {os.cpu_count()} CPUs, total {time.monotonic() - started:.0f} s")
    print(f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other work on the machine "
          "skews the figures); latency = fio completion latency (clat); writes are plain (no FUA/flush), "
          "page cache everywhere")
    print(table(results, targets))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
