"""A returning replica is resynced while an NBD client keeps writing: every acknowledged write
reads back, and the three backing files end byte-identical (no stale block survives the sync)."""

import filecmp
import threading

from clusterfixture import ClusterTestCase, run, wait_for

MiB = 1 << 20


class ResyncUnderLoadTest(ClusterTestCase):
    def test_writes_during_full_resync(self):
        vol = self.available_volume("busy", 256 * MiB)
        uri = vol["nbd_uri"]
        # Non-zero data everywhere, so the resync has to copy every chunk.
        run("qemu-io", "-f", "raw", "-t", "writeback", "-c", "write -P 0x10 0 256M", "-c", "flush", uri)

        victim = next(r["node"] for r in vol["replicas"] if not r["primary"])
        self.cluster.nodes[victim].kill9()
        wait_for(f"{victim} offline", lambda: self.cluster.node_state(victim) == "offline", 30)
        run("qemu-io", "-f", "raw", "-t", "writeback", "-c", "write -P 0x20 0 64M", "-c", "flush", uri)

        # Restart the victim and write one MiB after another (each acknowledged with FUA) until
        # the volume is available again; record what was acknowledged.
        acknowledged = []
        stop = threading.Event()
        errors = []

        def writer():
            i = 0
            while not stop.is_set() and i < 200:
                offset = (64 + (i * 7) % 192) * MiB
                pattern = 0x30 + (i % 64)
                p = run("qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P {pattern} {offset} 1M", uri, check=False)
                if p.returncode != 0:
                    errors.append(p.stdout + p.stderr)
                    return
                acknowledged.append((offset, pattern))
                i += 1

        t = threading.Thread(target=writer)
        self.cluster.start_node(victim)
        t.start()
        seen = set()

        def available():
            state = self.cluster.volume("busy")["state"]
            seen.add(state)
            return state == "available" and len(acknowledged) >= 3
        try:
            wait_for("busy available again after the resync", available, 180)
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        print(f"states seen while writing: {sorted(seen)}; {len(acknowledged)} writes acknowledged")

        # The last acknowledged pattern of every MiB written reads back.
        last = {}
        for offset, pattern in acknowledged:
            last[offset] = pattern
        cmds = [f"read -P {p} {o} 1M" for o, p in sorted(last.items())]
        for i in range(0, len(cmds), 40):
            args = ["qemu-io", "-f", "raw"]
            for c in cmds[i:i + 40]:
                args += ["-c", c]
            run(*args, uri)
        run("qemu-io", "-f", "raw", "-c", "read -P 0x20 0 64M", uri)
        self.cluster.wait_volume_state("busy", "available", timeout=60)
        vol = self.cluster.volume("busy")
        files = [self.cluster.backing_file(r["node"], vol["uuid"]) for r in vol["replicas"]]
        for f in files[1:]:
            self.assertTrue(filecmp.cmp(files[0], f, shallow=False), f"{files[0]} and {f} differ")
