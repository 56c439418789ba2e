"""A local Tandem cluster on this machine: one controller and N node workers as real processes.

Used by script/demo and by the integration tests. Standard library only (runs on Debian's
/usr/bin/python3). Everything lives under one directory: TLS certificates (a throw-away CA),
the admin token, the controller's database, and each node's state and file pool.
"""

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        try:
            self.code = json.loads(body)["error"]["code"]
        except Exception:  # noqa: BLE001 - not every error body is JSON
            self.code = None


def wait_for(what, predicate, timeout=60.0, interval=0.1):
    """Polls predicate() until it returns a truthy value; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def make_certificates(tls_dir, extra_ips=()):
    """A CA and a server certificate for 127.0.0.1/localhost (and `extra_ips`), made with the openssl CLI."""
    os.makedirs(tls_dir, exist_ok=True)
    ca_key, ca = os.path.join(tls_dir, "ca.key"), os.path.join(tls_dir, "ca.pem")
    key, csr, cert = (os.path.join(tls_dir, n) for n in ("server.key", "server.csr", "server.pem"))
    if os.path.exists(cert):
        return ca, cert, key
    ext = os.path.join(tls_dir, "san.ext")
    with open(ext, "w") as f:
        sans = ",".join(f"IP:{ip}" for ip in ("127.0.0.1", *extra_ips))
        f.write(f"subjectAltName={sans},DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=tandem-test-ca",
        "-keyout", ca_key, "-out", ca)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "30",
        "-extfile", ext, "-out", cert)
    os.chmod(key, 0o600)
    return ca, cert, key


class Api:
    """A tiny HTTPS/JSON client of the controller (verifies the server against the CA)."""

    def __init__(self, url, token, ca_file):
        self.url, self.token = url, token
        self.context = ssl.create_default_context(cafile=ca_file)

    def call(self, method, path, body=None, token=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        tok = self.token if token is None else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode()) from None

    def get(self, path):
        return self.call("GET", path)[1]

    def post(self, path, body):
        return self.call("POST", path, body)[1]


class Process:
    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def pause(self):
        """SIGSTOP: the process stays, its sockets stay open, it answers nothing (a hung host)."""
        if self.running():
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout=15):
        if not self.running():
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused process would not act on SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LocalCluster:
    """Starts/stops a controller and `nodes` node workers under `root`."""

    def __init__(self, root, bin_dir, nodes=3, heartbeat_timeout="3s", heartbeat_interval="500ms",
                 controller_port=0, controller_args=(), node_args=lambda name: (),
                 controller_host="127.0.0.1", node_wrapper=lambda name: ()):
        self.root, self.bin_dir, self.node_count = os.path.abspath(root), bin_dir, nodes
        self.heartbeat_timeout, self.heartbeat_interval = heartbeat_timeout, heartbeat_interval
        self.controller_port = controller_port
        self.controller_args = list(controller_args)
        self.node_args = node_args  # name -> extra arguments of the nodes start() makes
        # Where the controller listens and nodes reach it, and name -> argv prefix that runs a node
        # on its host (e.g. `ip netns exec NS`; see tests/integration/netns.py).
        self.controller_host, self.node_wrapper = controller_host, node_wrapper
        self.controller = None
        self.nodes = {}
        self.api = None

    # -- layout
    def node_dir(self, name):
        return os.path.join(self.root, "nodes", name)

    def device_link_root(self, name):
        """Where node `name` puts the stable paths of its attached volumes (each node its own,
        as several share this host; a real host uses /dev/tandem)."""
        return os.path.join(self.node_dir(name), "dev-tandem")

    def _token(self, role):
        """(path, value) of the `role` token file under the cluster root, made once (kept across restarts)."""
        path = os.path.join(self.root, f"{role}.token")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(os.urandom(24).hex() + "\n")
            os.chmod(path, 0o600)
        with open(path) as f:
            return path, f.read().strip()

    def pool_dir(self, name):
        return os.path.join(self.node_dir(name), "pool")

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        extra_ips = () if self.controller_host == "127.0.0.1" else (self.controller_host,)
        self.ca, cert, key = make_certificates(os.path.join(self.root, "tls"), extra_ips)
        # Three tokens: admin (the operator, the CLI), service (what Cinder/libvirt would hold) and
        # join (what storage hosts hold to register; each then uses its own node token).
        self.token_file, self.token = self._token("admin")
        self.service_token_file, self.service_token = self._token("service")
        self.join_token_file, self.join_token = self._token("join")
        token_file = self.token_file
        port_file = os.path.join(self.root, "controller.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.controller = Process("controller", [
            os.path.join(self.bin_dir, "tandem-controller"), f"--listen={self.controller_host}",
            f"--port={self.controller_port}",
            f"--port-file={port_file}", f"--tls-cert={cert}", f"--tls-key={key}",
            f"--admin-token-file={token_file}", f"--service-token-file={self.service_token_file}",
            f"--join-token-file={self.join_token_file}", f"--database={os.path.join(self.root, 'controller.db')}",
            f"--heartbeat-timeout={self.heartbeat_timeout}", *self.controller_args],
            os.path.join(self.root, "controller.log"))
        self.controller.start()
        wait_for("the controller's port file", lambda: os.path.exists(port_file) or self._dead(self.controller), 30)
        if not self.controller.running():
            raise RuntimeError("controller exited; see " + self.controller.log_path)
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = f"https://{self.controller_host}:{self.port}"
        self.api = Api(self.url, self.token, self.ca)
        for i in range(1, self.node_count + 1):
            self.start_node(f"node{i}", self.node_args(f"node{i}"))
        wait_for(f"{self.node_count} online nodes", lambda: self.online_nodes() >= self.node_count, 60)
        return self

    def restart_controller(self):
        """Restarts the controller on the same database and port (after stop() or kill9())."""
        self.controller.stop()
        self.controller.argv = [a if not a.startswith("--port=") else f"--port={self.port}"
                                for a in self.controller.argv]
        port_file = os.path.join(self.root, "controller.port")
        os.unlink(port_file)
        self.controller.start()
        wait_for("the controller's port file", lambda: os.path.exists(port_file) or self._dead(self.controller), 30)
        if not self.controller.running():
            raise RuntimeError("controller exited; see " + self.controller.log_path)

    def _dead(self, p):
        return not p.running()

    def start_node(self, name, extra_args=(), wrapper=None):
        """Starts (or restarts, with the same arguments) node worker `name`. `extra_args` (first
        start only) are added to its command line, e.g. ["--pool=fast=file:/dir"]; `wrapper`
        (first start only) replaces the cluster's node wrapper: argv that runs the rest."""
        os.makedirs(self.pool_dir(name), exist_ok=True)
        if name not in self.nodes:
            prefix = self.node_wrapper(name) if wrapper is None else wrapper
            self.nodes[name] = Process(name, [
                *prefix, os.path.join(self.bin_dir, "tandem-node"), f"--name={name}", f"--controller-url={self.url}",
                f"--ca-file={self.ca}", f"--join-token-file={self.join_token_file}",
                f"--state-dir={self.node_dir(name)}", f"--heartbeat-interval={self.heartbeat_interval}",
                "--poll-wait=5s", "--nbd-port=0", "--replication-port=0",
                f"--device-link-root={self.device_link_root(name)}", *extra_args],
                os.path.join(self.root, f"{name}.log"))
        self.nodes[name].start()

    def online_nodes(self):
        try:
            return sum(1 for n in self.api.get("/v1/nodes")["nodes"] if n["state"] == "online")
        except Exception:  # noqa: BLE001 - controller may be starting
            return 0

    def node_state(self, name):
        return self.api.get(f"/v1/nodes/{name}")["state"]

    def volume(self, name):
        return self.api.get(f"/v1/volumes/{name}")

    def wait_volume_state(self, name, state, timeout=120):
        return wait_for(f"volume {name} to be {state}",
                        lambda: (lambda v: v if v["state"] == state else None)(self.volume(name)), timeout)

    def backing_file(self, node, volume_uuid):
        """The file that holds `node`'s replica of a volume (the file provider names it by uuid)."""
        pool = self.pool_dir(node)
        for entry in os.listdir(pool):
            if entry.startswith(volume_uuid) and "@" not in entry:
                return os.path.join(pool, entry)
        raise FileNotFoundError(f"no backing file for {volume_uuid} in {pool}: {os.listdir(pool)}")

    def stop(self):
        for p in self.nodes.values():
            p.stop()
        if self.controller:
            self.controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
