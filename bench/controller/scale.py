"""Controller scale benchmark: how the REST API's latency grows with the number of volumes.

Starts a real tandem-controller (no node workers: K nodes are registered through the API and
report status as nodes would, so every volume has three reported replicas), then, at each volume
count in STEPS, measures mean latency over HTTPS of:
  GET /v1/version (the baseline: one HTTPS round trip, no state), GET /v1/volumes (every view),
  GET /v1/volumes/{v}, a node's desired state, a node's status report, and POST /v1/volumes.
Requests go over one kept-alive TLS connection; each figure is the median of several runs.
Not a test (never in ctest). Usage: bench/controller/run.sh [bin-dir]."""

import http.client
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster  # noqa: E402

STEPS = [int(s) for s in os.environ.get("STEPS", "250,1000,4000").split(",")]
NODES = int(os.environ.get("NODES", "12"))
GiB = 1 << 30


def median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class KeepAliveApi:
    """JSON over one persistent HTTPS connection (the controller keeps connections alive)."""

    def __init__(self, url, token, ca):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
        self.token = token

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.token)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {text[:200]!r}")
        return resp.status, (json.loads(text) if text else None)

    def get(self, path):
        return self.call("GET", path)[1]

    def post(self, path, body):
        return self.call("POST", path, body)[1]


def main():
    bin_dir = sys.argv[1]
    root = tempfile.mkdtemp(prefix="tandem-ctlbench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    cluster = LocalCluster(root, bin_dir, nodes=0, controller_args=["--heartbeat-timeout=1h", "--log-level=warn"])
    try:
        cluster.start()
        api = KeepAliveApi(cluster.url, cluster.token, cluster.ca)
        tokens = {}
        pool = {"name": "p", "provider": "file", "thin": True, "total_bytes": 1 << 50, "free_bytes": 1 << 50}
        for i in range(NODES):
            name = f"n{i:02d}"
            _, reply = api.call("POST", "/v1/nodes", {"name": name, "address": "127.0.0.1", "nbd_port": 10809,
                                                       "replication_port": 7789, "pools": [pool]})
            tokens[name] = reply["token"]
        api.post("/v1/resource-groups", {"name": "triple", "replicas": 3})
        volumes = []  # (name, uuid, [nodes], primary)

        def report(node):
            reps = []
            for _, uuid, nodes, primary in volumes:
                if node not in nodes:
                    continue
                r = {"volume_uuid": uuid, "disk": "up_to_date", "primary": node == primary}
                if node == primary:
                    r["peers"] = [{"node": n, "state": "up_to_date"} for n in nodes if n != node]
                reps.append(r)
            body = {"applied_generation": 1, "pools": [pool], "replicas": reps}
            api.call("PUT", f"/v1/internal/nodes/{node}/status", body, token=tokens[node])

        def create(i):
            v = api.post("/v1/volumes", {"name": f"v{i:06d}", "size_bytes": GiB, "resource_group": "triple"})
            volumes.append((v["name"], v["uuid"], [r["node"] for r in v["replicas"]], v["primary_node"]))

        rows = []
        for step in STEPS:
            t0 = time.perf_counter()
            while len(volumes) < step - 20:
                create(len(volumes))
            fill_s = time.perf_counter() - t0
            create_ms = median_ms(lambda: create(len(volumes)), 20)
            for node in tokens:
                report(node)
            n0 = next(iter(tokens))
            row = {
                "volumes": len(volumes),
                "version": median_ms(lambda: api.get("/v1/version"), 50),
                "list": median_ms(lambda: api.get("/v1/volumes"), 9),
                "show": median_ms(lambda: api.get(f"/v1/volumes/{volumes[-1][0]}"), 50),
                "desired": median_ms(lambda: api.call("GET", f"/v1/internal/nodes/{n0}/desired?after=0",
                                                       token=tokens[n0]), 21),
                "report": median_ms(lambda: report(n0), 21),
                "create": create_ms,
                "fill_s": fill_s,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        print(f"\ncontroller at scale: {NODES} nodes, 3 replicas per volume; median latency in ms over one "
              "kept-alive HTTPS connection")
        cols = [("volumes", "volumes", "{:d}"), ("version", "GET version (baseline)", "{:.1f}"),
                ("list", "GET /v1/volumes", "{:.1f}"), ("show", "GET one volume", "{:.1f}"),
                ("desired", "GET desired (1 node)", "{:.1f}"), ("report", "PUT status (1 node)", "{:.1f}"),
                ("create", "POST volume", "{:.1f}")]
        print("  ".join(f"{title:>22}" for _, title, _ in cols))
        for row in rows:
            print("  ".join(f"{fmt.format(row[key]):>22}" for key, _, fmt in cols))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
