"""Chaos on the secondaries while a client writes: for CHAOS_SECONDS, a writer keeps writing
1 MiB blocks with FUA (each with its own pattern byte) to a 3-replica volume, while the test
kills (-9), freezes (SIGSTOP) and restarts the two secondaries at random. Afterwards every block
must read back as its last acknowledged write, and the three replicas must end byte-identical.
The seed is printed, and TANDEM_CHAOS_SEED replays a run."""

import os
import random
import threading
import time

from clusterfixture import ClusterTestCase, run

MiB = 1 << 20
BLOCKS = 48
CHAOS_SECONDS = float(os.environ.get("TANDEM_CHAOS_SECONDS", "25"))


class ChaosSecondariesTest(ClusterTestCase):
    controller_args = ("--replace-replicas-after=0",)  # keep the replicas where they are

    def test_acknowledged_writes_survive_secondary_chaos(self):
        seed = int(os.environ.get("TANDEM_CHAOS_SEED", str(int(time.time()))))
        rng = random.Random(seed)
        print(f"\nchaos seed {seed} (TANDEM_CHAOS_SEED={seed} replays it)")
        vol = self.available_volume("chaos", BLOCKS * MiB)
        uri = vol["nbd_uri"]
        secondaries = [r["node"] for r in vol["replicas"] if not r["primary"]]

        expected = {}          # block -> pattern of its last acknowledged write
        uncertain = set()      # blocks whose last write failed: old or new content both fine
        failures = []
        writes = [0]
        stop = threading.Event()

        def writer():
            wrng = random.Random(seed + 1)
            n = 0
            while not stop.is_set():
                n += 1
                writes[0] = n
                block = wrng.randrange(BLOCKS)
                pattern = 1 + (n % 254)
                p = run("qemu-io", "-f", "raw", "-t", "none", "-c", f"write -P {pattern} {block}M 1M", uri,
                        check=False)
                if p.returncode == 0 and "failed" not in (p.stdout + p.stderr):
                    expected[block] = pattern
                    uncertain.discard(block)
                else:
                    uncertain.add(block)
                    failures.append((block, (p.stdout + p.stderr).strip()[-200:]))

        thread = threading.Thread(target=writer)
        thread.start()
        events = []
        try:
            deadline = time.monotonic() + CHAOS_SECONDS
            while time.monotonic() < deadline:
                victim = rng.choice(secondaries)
                proc = self.cluster.nodes[victim]
                if rng.random() < 0.5:
                    proc.kill9()
                    time.sleep(rng.uniform(0.2, 2.0))
                    self.cluster.start_node(victim)
                    events.append(f"kill -9 {victim}")
                else:
                    proc.pause()
                    time.sleep(rng.uniform(0.2, 3.0))
                    proc.resume()
                    events.append(f"freeze {victim}")
                time.sleep(rng.uniform(0.2, 2.0))
        finally:
            stop.set()
            thread.join()
            for name in secondaries:
                self.cluster.nodes[name].resume()
        print(f"{len(events)} chaos events ({', '.join(events)}); {writes[0]} writes to {len(expected)} blocks, "
              f"{len(failures)} failed")
        # Secondaries failing never fails a write on the primary.
        self.assertEqual(failures, [], f"writes failed while only secondaries misbehaved: {failures[:3]}")

        for name in secondaries:
            if not self.cluster.nodes[name].running():
                self.cluster.start_node(name)
        # Let the nodes report the last event (heartbeats every 0.5 s) so that "available" is not
        # the state from before it.
        time.sleep(1.5)
        vol = self.cluster.wait_volume_state("chaos", "available", timeout=180)
        reads = [f"read -P {expected.get(b, 0)} {b}M 1M" for b in range(BLOCKS) if b not in uncertain]
        self.qemu_io(uri, *reads)
        self.assert_replicas_identical(vol)
