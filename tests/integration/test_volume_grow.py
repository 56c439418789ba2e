"""Online grow (PATCH /v1/volumes/{v}): the volume grows on every replica while an NBD client keeps
writing; acknowledged writes and old data stay, the new space reads as zeroes, an NBD client that
reconnects sees the new size, and the replicas end byte-identical. Bad sizes change nothing."""

import os
import re

from clusterfixture import ApiError, ClusterTestCase, run, wait_for

MiB = 1 << 20


class VolumeGrowTest(ClusterTestCase):
    def nbd_length(self, uri):
        out = run("qemu-io", "-f", "raw", "-c", "length", uri).stdout
        m = re.search(r"(\d+(?:\.\d+)?) (MiB|GiB|KiB|bytes)", out)
        self.assertIsNotNone(m, out)
        factor = {"bytes": 1, "KiB": 1 << 10, "MiB": MiB, "GiB": 1 << 30}[m.group(2)]
        return int(float(m.group(1)) * factor)

    def test_grow_while_writing(self):
        vol = self.available_volume("growing", 64 * MiB)
        uri = vol["nbd_uri"]
        self.qemu_io(uri, "write -P 0x11 0 64M", cache="writeback")
        self.qemu_io(uri, "flush", cache="writeback")

        # 1 MiB FUA writes inside the first 32 MiB until told to stop.
        writer = self.FuaWriter(uri, lambda i: (i * 5 % 32) * MiB, lambda i: 0x40 + i % 64)
        acknowledged, errors = writer.acknowledged, writer.errors
        try:
            wait_for("a first write", lambda: acknowledged or errors, 60)
            status, grown = self.cluster.api.call("PATCH", "/v1/volumes/growing", {"size_bytes": 128 * MiB})
            self.assertEqual(status, 200)
            self.assertEqual(grown["size_bytes"], 128 * MiB)
            # Every replica's backing file grows, and a new NBD connection sees the new size.
            for r in vol["replicas"]:
                path = self.cluster.backing_file(r["node"], vol["uuid"])
                wait_for(f"{path} grown", lambda: os.path.getsize(path) == 128 * MiB, 60)
            wait_for("the export grown", lambda: self.nbd_length(uri) == 128 * MiB, 60)
            writes_at_grow = len(acknowledged)
            wait_for("writes after the grow", lambda: len(acknowledged) >= writes_at_grow + 3 or errors, 60)
            self.qemu_io(uri, "write -P 0x22 100M 1M")
        finally:
            writer.stop()
        self.assertEqual(errors, [])

        last = {}
        for offset, pattern in acknowledged:
            last[offset] = pattern
        self.qemu_io(uri, *[f"read -P {p} {o} 1M" for o, p in sorted(last.items())])
        self.qemu_io(uri, "read -P 0x11 32M 32M", "read -P 0 64M 36M", "read -P 0x22 100M 1M", "read -P 0 101M 27M")
        vol = self.cluster.wait_volume_state("growing", "available", timeout=60)
        self.assertEqual(vol["size_bytes"], 128 * MiB)
        self.assert_replicas_identical(vol)

        # The same size again changes nothing.
        status, same = self.cluster.api.call("PATCH", "/v1/volumes/growing", {"size_bytes": 128 * MiB})
        self.assertEqual((status, same["size_bytes"]), (200, 128 * MiB))

    def test_bad_sizes_change_nothing(self):
        vol = self.available_volume("fixed", 16 * MiB)
        cases = [
            ({"size_bytes": 8 * MiB}, 422, "volume_shrink"),
            ({"size_gib": 1 << 20}, 422, "volume_too_large"),  # 1 PiB: larger than any pool here
            ({"size_bytes": 16 * MiB + 1}, 400, "invalid_field"),
            ({"size_bytes": 32 * MiB, "size_gib": 1}, 400, "invalid_field"),
            ({"replicas": 4}, 422, "not_enough_nodes"),  # three nodes
            ({"size_bytes": 32 * MiB, "replicas": 4}, 422, "not_enough_nodes"),  # all or nothing
            ({"resource_group": "nosuch"}, 404, "resource_group_not_found"),
            ({"colour": "red"}, 400, None),
        ]
        for body, status, code in cases:
            with self.assertRaises(ApiError, msg=body) as e:
                self.cluster.api.call("PATCH", "/v1/volumes/fixed", body)
            self.assertEqual(e.exception.status, status, e.exception.body)
            if code:
                self.assertEqual(e.exception.code, code, e.exception.body)
        with self.assertRaises(ApiError) as e:
            self.cluster.api.call("PATCH", "/v1/volumes/fixed", {"size_gib": 1 << 20})
        self.assertIn("pool", e.exception.body)
        with self.assertRaises(ApiError) as e:
            self.cluster.api.call("PATCH", "/v1/volumes/nosuch", {"size_bytes": 32 * MiB})
        self.assertEqual((e.exception.status, e.exception.code), (404, "volume_not_found"))
        self.assertEqual(self.cluster.volume("fixed")["size_bytes"], 16 * MiB)
        for r in vol["replicas"]:
            self.assertEqual(os.path.getsize(self.cluster.backing_file(r["node"], vol["uuid"])), 16 * MiB)
