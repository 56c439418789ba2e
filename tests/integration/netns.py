"""Hosts in network namespaces for partition tests: one Linux bridge in the root namespace (the
"storage network", where the controller listens) and one namespace per host, joined to the bridge
by a veth pair. `cut(host)` takes the host's link down: the host is cut off from every other host
and from the controller but is not down — its processes run, and clients inside its namespace
still reach it (as a VM on that host would). `heal(host)` brings the link back.

Needs root (ip netns, ip link). Names carry a random suffix so parallel tests cannot collide, and
close() removes every namespace, link and process it made."""

import os
import random
import subprocess


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Network:
    def __init__(self, hosts):
        self.tag = os.urandom(2).hex()
        self.bridge = f"tdb{self.tag}"
        self.prefix = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
        self.gateway = f"{self.prefix}.1"
        self.hosts = {}
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, host in enumerate(hosts, start=2):
                self._add_host(host, f"{self.prefix}.{i}")
        except Exception:
            self.close()
            raise

    def _add_host(self, host, address):
        ns, outer, inner = f"tdn{self.tag}{host}", f"tdv{self.tag}{len(self.hosts)}o", f"tdv{self.tag}{len(self.hosts)}i"
        self.hosts[host] = {"ns": ns, "outer": outer, "address": address}
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", self.bridge, "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def address(self, host):
        return self.hosts[host]["address"]

    def wrap(self, host):
        """The argv prefix that runs a command on `host` (inside its namespace)."""
        return ["ip", "netns", "exec", self.hosts[host]["ns"]]

    def cut(self, host):
        _ip("link", "set", self.hosts[host]["outer"], "down")

    def heal(self, host):
        _ip("link", "set", self.hosts[host]["outer"], "up")

    def close(self):
        for h in self.hosts.values():
            pids = _ip("netns", "pids", h["ns"], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", h["ns"], check=False)
            _ip("link", "del", h["outer"], check=False)
        _ip("link", "del", self.bridge, check=False)
        self.hosts = {}
