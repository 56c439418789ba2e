"""Export/import throughput of a Tandem volume: through the controller (`tandem volume
export|import`, i.e. GET/PUT /v1/volumes/{v}/data) against `qemu-img convert` straight to and
from the primary's NBD export, on the same volume and the same image. Run by bench/stream/run.sh."""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster  # noqa: E402

MIB = 1 << 20


def make_image(path, size, data_fraction):
    """A raw image: `data_fraction` of its MiBs random, the rest zero (holes)."""
    rng = random.Random(7)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(size // MIB):
            if rng.random() < data_fraction:
                f.seek(i * MIB)
                f.write(os.urandom(MIB))


def timed(argv, env=None):
    t0 = time.monotonic()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    # run.sh stops us with SIGTERM: unwind through `finally` so the cluster is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    size = args.size_mib * MIB
    cluster = LocalCluster(os.path.join(args.work, "cluster"), args.bin_dir, nodes=args.replicas)
    cluster.start()
    try:
        api = cluster.api
        api.post("/v1/resource-groups", {"name": "bench", "replicas": args.replicas})
        api.post("/v1/volumes", {"name": "sb", "size_bytes": size, "resource_group": "bench"})
        view = cluster.wait_volume_state("sb", "available", timeout=120)
        uri = view["nbd_uri"]
        env = dict(os.environ, TANDEM_URL=cluster.url, TANDEM_TOKEN=cluster.token, TANDEM_CA_FILE=cluster.ca,
                   HOME=args.work)
        tandem = os.path.join(args.bin_dir, "tandem")
        rows = []
        for label, fraction in (("full (100% data)", 1.0), ("sparse (25% data)", 0.25)):
            image = os.path.join(args.work, "image.raw")
            out = os.path.join(args.work, "out.raw")
            make_image(image, size, fraction)
            results = {}
            for r in range(args.rounds):
                for name, argv in (
                    ("import: tandem volume import", [tandem, "volume", "import", "sb", image]),
                    ("import: qemu-img convert -> NBD", ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw",
                                                         image, uri]),
                    ("export: tandem volume export", [tandem, "volume", "export", "sb", out]),
                    ("export: qemu-img convert <- NBD", ["qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out]),
                ):
                    if os.path.exists(out) and name.startswith("export"):
                        os.unlink(out)
                    results.setdefault(name, []).append(timed(argv, env))
            for name, secs in results.items():
                best = min(secs)
                rows.append((label, name, best, size / MIB / best))
        print(json.dumps({"size_mib": args.size_mib, "replicas": args.replicas, "rounds": args.rounds}))
        print(f"{'image':20} {'transfer':34} {'best s':>8} {'MiB/s':>8}")
        for label, name, best, rate in rows:
            print(f"{label:20} {name:34} {best:8.2f} {rate:8.0f}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
