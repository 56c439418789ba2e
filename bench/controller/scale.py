"""Controller scale benchmark: the controller at thousands of nodes and up to 100 000 volumes.

Starts a real tandem-controller (release build) and simulates NODES nodes (default 1000) through
the real internal API, reporting like node workers: a full status report first, then deltas
against the last acknowledged report (a full one again when the controller asks), and
long-polling their desired state. Then, for each volume count in STEPS (default 10000), creates
three-replica volumes over CONNS parallel kept-alive HTTPS connections and measures:
  create p50/p99 (one connection, no other load), list one page (GET /v1/volumes, 500 volumes),
  one node's desired state, one node's report (full and delta), fan-out (FANOUT nodes polling: a
  create until its replica nodes' long-polls returned, a node's new address until its peers'
  did — with delta polls as node workers make them, and again with full answers as the baseline —
  and how many other polls returned early), controller restart until it
  serves (GET /v1/health) and until every node has reported again, and the controller's RSS.
Not a test (never in ctest). Usage: bench/controller/run.sh [bin-dir];
env NODES, STEPS (e.g. 10000,100000), CONNS (8), FANOUT (all nodes)."""

import concurrent.futures
import http.client
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "script", "lib"))
from localcluster import LocalCluster, wait_for  # noqa: E402

STEPS = [int(s) for s in os.environ.get("STEPS", "10000").split(",")]
NODES = int(os.environ.get("NODES", "1000"))
CONNS = int(os.environ.get("CONNS", "8"))
FANOUT = int(os.environ.get("FANOUT", str(NODES)))
GiB = 1 << 30
POOL = {"name": "p", "provider": "file", "thin": True, "snapshots": False,
        "total_bytes": 1 << 50, "free_bytes": 1 << 50, "provisioned_bytes": 0}
GENERATION = "g" * 32


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class KeepAliveApi:
    """JSON over one persistent HTTPS connection (the controller keeps connections alive)."""

    def __init__(self, url, token, ca, timeout=120):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.context = ssl.create_default_context(cafile=ca)
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.token)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                                        timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {text[:300]!r}")
        return resp.status, (json.loads(text) if text else None), len(data or b"")

    def get(self, path):
        return self.call("GET", path)[1]


class SimNode:
    """A node worker's reports, simulated: full first, then deltas against the acknowledged one."""

    def __init__(self, name, token):
        self.name, self.token = name, token
        self.replicas = {}  # volume uuid -> replica report
        self.seq = 0
        self.acked = 0
        self.lock = threading.Lock()

    def place(self, uuid, nodes, primary):
        r = {"volume_uuid": uuid, "disk": "up_to_date", "primary": self.name == primary,
             "generation": GENERATION, "allocated_bytes": 0}
        if self.name == primary:
            r["peers"] = [{"node": n, "state": "up_to_date"} for n in nodes if n != self.name]
        with self.lock:
            self.replicas[uuid] = r

    def report(self, api, changed=None):
        """Sends a delta of `changed` uuids (None: a full report); a full one when asked. Returns bytes sent."""
        with self.lock:
            self.seq += 1
            body = {"report_seq": self.seq, "applied_generation": 0, "pools": [POOL]}
            if changed is None or self.acked == 0:
                body["replicas"] = list(self.replicas.values())
            else:
                body["base_seq"] = self.acked
                body["removed_replicas"] = []
                body["replicas"] = [self.replicas[u] for u in changed]
        _, ack, size = api.call("PUT", f"/v1/internal/nodes/{self.name}/status", body, token=self.token)
        with self.lock:
            self.acked = ack["acknowledged"]
        if ack["send_full"]:
            return size + self.report(api)
        return size


def main():
    bin_dir = sys.argv[1]
    root = tempfile.mkdtemp(prefix="tandem-ctlbench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    cluster = LocalCluster(root, bin_dir, nodes=0, controller_args=["--heartbeat-timeout=1h", "--log-level=warn"])
    local = threading.local()

    def conn():
        if getattr(local, "api", None) is None:
            local.api = KeepAliveApi(cluster.url, cluster.token, cluster.ca)
        return local.api

    try:
        cluster.start()
        api = KeepAliveApi(cluster.url, cluster.token, cluster.ca)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=CONNS)
        nodes = {}

        def register(i):
            name = f"n{i:04d}"
            _, reply, _ = conn().call("POST", "/v1/nodes", {"name": name, "address": "127.0.0.1", "nbd_port": 10809,
                                                           "replication_port": 7789, "pools": [POOL]})
            return name, reply["token"]

        t0 = time.perf_counter()
        for name, token in pool.map(register, range(NODES)):
            nodes[name] = SimNode(name, token)
        print(f"registered {NODES} nodes in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        list(pool.map(lambda n: n.report(conn()), nodes.values()))
        api.call("POST", "/v1/resource-groups", {"name": "triple", "replicas": 3})
        volumes = []  # (name, uuid)
        holders_of = {}  # volume uuid -> its replica nodes
        vlock = threading.Lock()

        def create(i, client=None):
            start = time.perf_counter()
            _, v, _ = (client or conn()).call("POST", "/v1/volumes",
                                              {"name": f"v{i:06d}", "size_bytes": GiB, "resource_group": "triple"})
            took = (time.perf_counter() - start) * 1000
            holders = [r["node"] for r in v["replicas"]]
            for n in holders:
                nodes[n].place(v["uuid"], holders, v["primary_node"])
            holders_of[v["uuid"]] = holders
            with vlock:
                volumes.append((v["name"], v["uuid"]))
            return took

        def report_all(changed=None):
            return sum(pool.map(lambda n: n.report(conn(), changed), nodes.values()))

        next_index = [0]

        def batch(count):
            first = next_index[0]
            next_index[0] += count
            return list(pool.map(create, range(first, first + count)))

        def median_ms(fn, repeat):
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)

        def rss_mib():
            with open(f"/proc/{cluster.controller.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
            return 0.0

        def poll_round(change, concerned_of, wait_s=20, delta=True):
            """Every FANOUT node long-polls its desired state (after= the current generation; with
            `delta`, asking for a delta after it as node workers do); `change()` is made and returns
            (its latency in ms, anything); `concerned_of(result)` names the nodes whose state it
            changes. Returns (s until the last concerned poll returned, median s, change ms,
            concerned count, other polls that returned before their deadline, median answer bytes)."""
            names = list(nodes)[:FANOUT]
            generation = api.get(f"/v1/internal/nodes/{names[0]}/desired?after=0")["generation"]
            returned = {}
            ready = threading.Barrier(len(names) + 1, timeout=300)
            lock = threading.Lock()
            done = threading.Condition(lock)

            def poll(name):
                client = KeepAliveApi(cluster.url, nodes[name].token, cluster.ca, timeout=300)
                client.call("GET", "/v1/version")  # the TLS handshake happens before the clock starts
                ready.wait()
                query = f"after={generation}&wait={wait_s}" + ("&delta=true" if delta else "")
                _, state, _ = client.call("GET", f"/v1/internal/nodes/{name}/desired?{query}")
                with lock:
                    returned[name] = (time.perf_counter(), state["generation"], len(json.dumps(state)))
                    done.notify_all()
                client.conn.close()

            threads = [threading.Thread(target=poll, args=(n,), daemon=True) for n in names]
            for t in threads:
                t.start()
            ready.wait()
            time.sleep(3)  # let every long-poll reach the controller (a benchmark, not a test)
            start = time.perf_counter()
            change_ms, result = change()
            concerned = set(concerned_of(result)) & set(names)
            with lock:
                done.wait_for(lambda: concerned <= set(returned), timeout=wait_s - 5)
                ends = [returned[n][0] - start for n in concerned if n in returned and returned[n][1] > generation]
                sizes = [returned[n][2] for n in concerned if n in returned]
                others = [n for n, (when, _, _) in returned.items() if n not in concerned and when - start < wait_s - 5]
            for t in threads:
                t.join(300)
            if len(ends) != len(concerned):
                raise RuntimeError(f"only {len(ends)} of {len(concerned)} concerned long-polls returned with the change")
            return (max(ends), statistics.median(ends), change_ms, len(concerned), len(others),
                    statistics.median(sizes) if sizes else 0)

        def fanout():
            """(1) One create while every node polls: until its replica nodes' polls returned. (2) A node
            re-registered at a new address: until the polls of every node sharing a volume with it returned."""
            row = {}

            def create_one():
                took = create(next_index[0], api)
                next_index[0] += 1
                return took, holders_of[volumes[-1][1]]  # nothing else creates meanwhile

            (row["fanout_s"], _, row["create_polling_ms"], row["fanout_nodes"],
             row["fanout_others"], _) = poll_round(create_one, lambda held: held)

            moved = list(nodes)[0]
            peers = {moved}
            for uuid in nodes[moved].replicas:
                peers.update(holders_of.get(uuid, []))

            def readdress(address):
                start = time.perf_counter()
                node = api.get(f"/v1/nodes/{moved}")
                _, reply, _ = api.call("POST", "/v1/nodes", {"name": moved, "uuid": node["uuid"], "address": address,
                                                            "nbd_port": 10809, "replication_port": 7789, "pools": [POOL]})
                nodes[moved].token = reply["token"]
                return (time.perf_counter() - start) * 1000, None

            # The node workers' way (deltas), then the baseline: the same change with full answers.
            (row["peers_s"], row["peers_p50_s"], _, row["peers_nodes"],
             row["peers_others"], row["peers_bytes"]) = poll_round(lambda: readdress("127.0.0.2"), lambda _: peers)
            (row["peers_full_s"], row["peers_full_p50_s"], _, _, _,
             row["peers_full_bytes"]) = poll_round(lambda: readdress("127.0.0.1"), lambda _: peers, delta=False)
            return row

        rows = []
        for step in STEPS:
            t0 = time.perf_counter()
            while len(volumes) < step - 200:
                batch(min(2000, step - 200 - len(volumes)))
                print(f"  {len(volumes)} volumes ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
            fill_s = time.perf_counter() - t0
            fill_rate = len(volumes) / fill_s if fill_s else 0
            serial = [create(next_index[0] + k, api) for k in range(200)]
            next_index[0] += 200
            t1 = time.perf_counter()
            report_all()
            reports_s = time.perf_counter() - t1
            n0 = nodes[next(iter(nodes))]
            mid = volumes[len(volumes) // 2][0]
            row = {
                "volumes": len(volumes),
                "create_p50": statistics.median(serial),
                "create_p99": pct(serial, 99),
                "fill_per_s": fill_rate,
                "page": median_ms(lambda: api.get("/v1/volumes?limit=500"), 15),
                "page_mid": median_ms(lambda: api.get(f"/v1/volumes?limit=500&after={mid}"), 15),
                "desired": median_ms(lambda: api.call("GET", f"/v1/internal/nodes/{n0.name}/desired?after=0",
                                                      token=n0.token), 15),
                "replicas_per_node": len(n0.replicas),
                "report_full": median_ms(lambda: n0.report(api), 11),
                "report_delta": median_ms(lambda: n0.report(api, [next(iter(n0.replicas))]), 21),
                "all_reports_s": reports_s,
            }
            row["full_bytes"] = len(json.dumps(list(n0.replicas.values())))
            row.update(fanout())
            row["rss_mib"] = rss_mib()
            # Restart: until the controller serves, then until every node has reported again (each
            # node's delta is answered send_full, then its full report is applied).
            cluster.controller.stop()
            start = time.perf_counter()
            cluster.restart_controller()
            wait_for("the restarted controller to serve", lambda: _serves(cluster), 120)
            row["restart_s"] = time.perf_counter() - start
            pool.shutdown()
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=CONNS)
            local = threading.local()  # new connections to the new process
            api = KeepAliveApi(cluster.url, cluster.token, cluster.ca)
            start = time.perf_counter()
            report_all(changed=[])
            row["reported_again_s"] = time.perf_counter() - start
            row["first_create_ms"] = create(next_index[0], api)
            next_index[0] += 1
            row["rss_after_restart_mib"] = rss_mib()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

        print(f"\ncontroller at scale: {NODES} simulated nodes, 3 replicas per volume, release build; "
              f"latencies in ms over kept-alive HTTPS, times in s")
        cols = [("volumes", "volumes", "{:d}"), ("create_p50", "create p50", "{:.1f}"),
                ("create_p99", "create p99", "{:.1f}"), ("fill_per_s", f"creates/s ({CONNS} conns)", "{:.0f}"),
                ("page", "list page (500)", "{:.1f}"), ("page_mid", "page mid-list", "{:.1f}"),
                ("desired", "desired (1 node)", "{:.1f}"), ("replicas_per_node", "replicas/node", "{:d}"),
                ("report_full", "report full", "{:.1f}"), ("report_delta", "report delta", "{:.1f}"),
                ("create_polling_ms", "create, all polling", "{:.1f}"),
                ("fanout_s", "fan-out (create)", "{:.3f}"), ("fanout_nodes", "nodes woken", "{:d}"),
                ("fanout_others", "others woken", "{:d}"),
                ("peers_s", "fan-out (readdress)", "{:.2f}"), ("peers_p50_s", "readdress p50", "{:.2f}"),
                ("peers_nodes", "peers woken", "{:d}"), ("peers_others", "others woken ", "{:d}"),
                ("peers_bytes", "readdress answer B", "{:.0f}"),
                ("peers_full_s", "same, full (baseline)", "{:.2f}"), ("peers_full_p50_s", "full p50", "{:.2f}"),
                ("peers_full_bytes", "full answer B", "{:.0f}"),
                ("restart_s", "restart to serving", "{:.2f}"), ("reported_again_s", "all nodes reported", "{:.1f}"),
                ("first_create_ms", "1st create after", "{:.1f}"), ("rss_mib", "RSS MiB", "{:.0f}"),
                ("rss_after_restart_mib", "RSS after restart", "{:.0f}")]
        for key, title, fmt in cols:
            print(f"{title:>22}  " + "  ".join(f"{fmt.format(row[key]):>10}" for row in rows))
    except BaseException:
        with open(os.path.join(root, "controller.log"), errors="replace") as f:
            print("controller log (last lines):\n" + "".join(f.readlines()[-30:]), file=sys.stderr)
        print(f"controller exit status: {cluster.controller.proc.poll()}", file=sys.stderr)
        raise
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _serves(cluster):
    try:
        status, _ = cluster.api.call("GET", "/v1/health")
        return status == 200
    except Exception:
        return False


if __name__ == "__main__":
    main()
