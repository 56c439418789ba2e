"""GET/PUT /v1/volumes/{v}/data against real processes: a volume streamed in and out with
identical sha256, sparse exports, range resume both ways, size checks that write nothing, the
tokens that may and may not stream, unusable volumes, and the CLI's export/import."""

import hashlib
import http.client
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import time

from clusterfixture import BIN_DIR, ClusterTestCase, wait_for

MIB = 1 << 20
# The dense round trip is 256 MiB: with the ASan+UBSan build on this shared 2-core machine a PUT
# of data runs at ~14 MiB/s and a GET at ~50 MiB/s (two replicas). The 1 GiB round trip
# is test_one_gib_streams_out_and_back_in_with_identical_sha256, on a mostly sparse image.
SIZE = 256 * MIB
CHUNK = 4 * MIB


def content(i):
    """The deterministic content of MiB number i of the test image: every third MiB is zeroes."""
    if i % 3 == 1:
        return bytes(MIB)
    return random.Random(i).randbytes(MIB)


class VolumeDataTest(ClusterTestCase):
    nodes = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster.api.post("/v1/resource-groups", {"name": "r2", "replicas": 2})
        cls.context = ssl.create_default_context(cafile=cls.cluster.ca)
        host, port = cls.cluster.url[len("https://"):].rsplit(":", 1)
        cls.host, cls.port = host, int(port)

    # -- plumbing
    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=120)

    def headers(self, token=None, **extra):
        tok = self.cluster.token if token is None else token
        h = {k.replace("_", "-"): v for k, v in extra.items()}
        if tok:
            h["Authorization"] = "Bearer " + tok
        return h

    def get(self, volume, range_=None, token=None):
        """GET data: (status, headers, sha256 hex of the body, body length, body if small)."""
        c = self.conn()
        h = self.headers(token)
        if range_:
            h["Range"] = range_
        c.request("GET", f"/v1/volumes/{volume}/data", headers=h)
        r = c.getresponse()
        digest, n, small = hashlib.sha256(), 0, b""
        while True:
            piece = r.read(CHUNK)
            if not piece:
                break
            digest.update(piece)
            n += len(piece)
            if n <= 64 * 1024:
                small += piece
        c.close()
        return r.status, r.headers, digest.hexdigest(), n, small

    def put(self, volume, pieces, length, token=None, **extra):
        """PUT data from an iterable of byte strings with Content-Length `length`: (status, JSON body)."""
        c = self.conn()
        c.putrequest("PUT", f"/v1/volumes/{volume}/data")
        for k, v in dict(self.headers(token, **extra), **{"Content-Length": str(length),
                                                          "Content-Type": "application/octet-stream"}).items():
            c.putheader(k, v)
        c.endheaders()
        for p in pieces:
            c.send(p)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body) if body else None

    def image(self, mib):
        for i in range(mib):
            yield content(i)

    def image_sha(self, mib):
        d = hashlib.sha256()
        for p in self.image(mib):
            d.update(p)
        return d.hexdigest()

    def volume(self, name, size=SIZE):
        return self.available_volume(name, size, group="r2")

    def allocated(self, path):
        return os.stat(path).st_blocks * 512

    def tandem(self, *argv, expect=0, stdin=None):
        env = dict(os.environ, TANDEM_URL=self.cluster.url, TANDEM_TOKEN=self.cluster.token,
                   TANDEM_CA_FILE=self.cluster.ca, HOME=self.tmp)
        p = subprocess.run([os.path.join(BIN_DIR, "tandem"), *argv], capture_output=True, env=env, timeout=300,
                           stdin=stdin)
        self.assertEqual(p.returncode, expect, f"tandem {' '.join(argv)}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        return p

    # -- tests
    def test_stream_in_and_out_with_identical_sha256_and_thin_volume(self):
        # A 256 MiB image (a third of it zeroes) PUT into a volume comes back byte-identical, and
        # the zero blocks were not allocated on the replicas (NBD WRITE_ZEROES over holes: nothing).
        view = self.volume("dv-round")
        mib = SIZE // MIB
        status, body = self.put("dv-round", self.image(mib), SIZE)
        self.assertEqual(status, 200, body)
        self.assertEqual((body["bytes_written"], body["offset"], body["size_bytes"]), (SIZE, 0, SIZE))
        zero = sum(MIB for i in range(mib) if i % 3 == 1)
        self.assertEqual(body["zero_bytes"], zero)
        status, headers, sha, n, _ = self.get("dv-round")
        self.assertEqual((status, n), (200, SIZE))
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertEqual(headers["Accept-Ranges"], "bytes")
        self.assertEqual(sha, self.image_sha(mib))
        for r in view["replicas"]:
            backing = self.cluster.backing_file(r["node"], view["uuid"])
            self.assertLessEqual(self.allocated(backing), SIZE - zero + 4 * MIB, f"{r['node']} allocated zeroes")

    def test_one_gib_streams_out_and_back_in_with_identical_sha256(self):
        # The round trip at its size: a 1 GiB image (one MiB of data in every eight, the
        # rest zeroes, like a typical disk image) goes into a fresh volume, is streamed out of it
        # (GET, the whole volume) and back into a second fresh volume, and comes out of that one
        # (GET) with the image's sha256. Sparse-aware both ways, as `tandem volume import
        # --target-is-zero` and the GET's holes are: zero MiBs are not sent into a fresh volume
        # (ranged PUTs of the data only), and the GETs read no hole from disk. Each step is timed
        # (the figures are printed; the whole test stays near a minute on the sanitised build,
        # where a PUT of every zero byte as well would take over a minute by itself).
        size, mib = 1 << 30, 1024

        def big(i):
            return random.Random(1000 + i).randbytes(MIB) if i % 8 == 0 else bytes(MIB)
        want = hashlib.sha256()
        for i in range(mib):
            want.update(big(i))
        want = want.hexdigest()
        self.available_volume("dv-gib-a", size, group="r2")
        self.available_volume("dv-gib-b", size, group="r2")

        def put_data(volume, at, piece):
            status, body = self.put(volume, [piece], len(piece),
                                    Content_Range=f"bytes {at}-{at + len(piece) - 1}/{size}")
            self.assertEqual(status, 200, body)
        started = time.monotonic()
        for i in range(0, mib, 8):
            put_data("dv-gib-a", i * MIB, big(i))
        put_seconds = time.monotonic() - started

        # Out of one volume (its sha256 checked on the way) and back into the other while it
        # streams: every MiB read, the non-zero ones written.
        started = time.monotonic()
        c = self.conn()
        c.request("GET", "/v1/volumes/dv-gib-a/data", headers=self.headers())
        source = c.getresponse()
        self.assertEqual(source.status, 200)
        at, sent, out = 0, 0, hashlib.sha256()
        while at < size:
            piece = source.read(MIB)
            self.assertEqual(len(piece), MIB, f"the GET ended at {at}")
            out.update(piece)
            if piece.count(0) != MIB:
                put_data("dv-gib-b", at, piece)
                sent += MIB
            at += MIB
        self.assertEqual(source.read(1), b"")
        c.close()
        copy_seconds = time.monotonic() - started
        self.assertEqual(out.hexdigest(), want, "streamed out")
        self.assertEqual(sent, 128 * MIB)
        started = time.monotonic()
        status, _, sha, n, _ = self.get("dv-gib-b")
        get_seconds = time.monotonic() - started
        self.assertEqual((status, n, sha), (200, size, want), "streamed back in")
        sys.stderr.write(f"1 GiB: data in {put_seconds:.1f} s, out and back in {copy_seconds:.1f} s, "
                         f"out again {get_seconds:.1f} s\n")
        for name in ("dv-gib-a", "dv-gib-b"):
            self.cluster.api.call("DELETE", f"/v1/volumes/{name}")

    def test_range_get_resumes_and_checks_bounds(self):
        self.volume("dv-range", 8 * MIB)
        data = content(0) + content(1) + content(2) + content(3) + content(4) + content(5) + content(6) + content(7)
        self.assertEqual(self.put("dv-range", [data], len(data))[0], 200)
        status, headers, sha, n, _ = self.get("dv-range", "bytes=1000-3000999")
        self.assertEqual((status, n), (206, 3000000))
        self.assertEqual(headers["Content-Range"], f"bytes 1000-3000999/{8 * MIB}")
        self.assertEqual(sha, hashlib.sha256(data[1000:3001000]).hexdigest())
        status, headers, sha, n, _ = self.get("dv-range", f"bytes={5 * MIB}-")
        self.assertEqual((status, sha), (206, hashlib.sha256(data[5 * MIB:]).hexdigest()))
        status, _, _, _, small = self.get("dv-range", "bytes=-100")
        self.assertEqual((status, small), (206, data[-100:]))
        status, headers, _, _, small = self.get("dv-range", f"bytes={8 * MIB}-")
        self.assertEqual(status, 416)
        self.assertEqual(headers["Content-Range"], f"bytes */{8 * MIB}")
        self.assertEqual(json.loads(small)["error"]["code"], "range_not_satisfiable")
        status, _, _, _, small = self.get("dv-range", "bytes=0-1,5-6")
        self.assertEqual((status, json.loads(small)["error"]["code"]), (400, "invalid_range"))

    def test_range_put_resumes_and_size_errors_write_nothing(self):
        self.volume("dv-put", 8 * MIB)
        data = b"".join(content(i) for i in range(8))
        # A transfer cut after 3 MiB is finished by a second PUT with Content-Range.
        self.assertEqual(self.put("dv-put", [data[:3 * MIB]], 3 * MIB,
                                  Content_Range=f"bytes 0-{3 * MIB - 1}/{8 * MIB}")[0], 200)
        status, body = self.put("dv-put", [data[3 * MIB:]], 5 * MIB, Content_Range=f"bytes {3 * MIB}-{8 * MIB - 1}/*")
        self.assertEqual((status, body["offset"], body["bytes_written"]), (200, 3 * MIB, 5 * MIB))
        before = self.get("dv-put")[2]
        self.assertEqual(before, hashlib.sha256(data).hexdigest())

        # Fewer bytes without a Content-Range: refused, nothing written.
        status, body = self.put("dv-put", [bytes(MIB)], MIB)
        self.assertEqual((status, body["error"]["code"]), (400, "length_mismatch"))
        # A range running past the end: 413 with the sizes, nothing written.
        status, body = self.put("dv-put", [b"\xff" * 20], 20, Content_Range=f"bytes {8 * MIB - 10}-{8 * MIB + 9}/*")
        self.assertEqual((status, body["error"]["code"]), (413, "body_exceeds_volume"))
        # More bytes than the volume, announced: refused before the body (the client asked for
        # 100-continue and never sends it).
        reply = self.raw_exchange("PUT /v1/volumes/dv-put/data HTTP/1.1\r\nHost: t\r\n"
                                  f"Authorization: Bearer {self.cluster.token}\r\n"
                                  f"Content-Length: {8 * MIB + 4096}\r\nExpect: 100-continue\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        error = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
        self.assertEqual(error["code"], "body_exceeds_volume")
        self.assertIn(str(8 * MIB + 4096), error["message"])
        self.assertIn(str(8 * MIB), error["message"])
        # The same without 100-continue (the body is sent and drained): the same answer.
        status, body = self.put("dv-put", [b"\xee" * (8 * MIB + 4096)], 8 * MIB + 4096)
        self.assertEqual((status, body["error"]["code"]), (413, "body_exceeds_volume"))
        status, body = self.put("dv-put", [b"x" * 10], 10, Content_Range="bytes 0-9/12345")
        self.assertEqual((status, body["error"]["code"]), (400, "size_mismatch"))
        self.assertEqual(self.get("dv-put")[2], before, "a refused PUT changed the volume")

    def raw_exchange(self, request):
        """Sends `request` (headers only) over TLS and returns everything until the server closes."""
        with socket.create_connection((self.host, self.port), timeout=30) as raw:
            with self.context.wrap_socket(raw, server_hostname=self.host) as s:
                s.sendall(request.encode())
                out = b""
                while True:
                    piece = s.recv(65536)
                    if not piece:
                        return out
                    out += piece

    def test_unknown_volume_tokens_and_unusable_states(self):
        self.volume("dv-auth", 4 * MIB)
        self.assertEqual(self.get("dv-nope")[0], 404)
        status, body = self.put("dv-nope", [bytes(10)], 10)
        self.assertEqual((status, body["error"]["code"]), (404, "volume_not_found"))
        # The service token (Cinder's) may stream both ways; the join token may not; no token: 401.
        self.assertEqual(self.get("dv-auth", token=self.cluster.service_token)[0], 200)
        status, body = self.put("dv-auth", [bytes(4 * MIB)], 4 * MIB, token=self.cluster.service_token)
        self.assertEqual(status, 200, body)
        with open(self.cluster.join_token_file) as f:
            join = f.read().strip()
        status, body = self.put("dv-auth", [bytes(10)], 10, token=join, Content_Range="bytes 0-9/*")
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        self.assertEqual(self.get("dv-auth", token=join)[0], 403)
        self.assertEqual(self.get("dv-auth", token="")[0], 401)
        # Attached: reading is fine, writing is 409 volume_attached.
        self.cluster.api.post("/v1/volumes/dv-auth/attachments", {"host": "node1", "mode": "nbd"})
        self.assertEqual(self.get("dv-auth", "bytes=0-9")[0], 206)
        status, body = self.put("dv-auth", [bytes(10)], 10, Content_Range="bytes 0-9/*")
        self.assertEqual((status, body["error"]["code"]), (409, "volume_attached"))
        self.cluster.api.call("DELETE", "/v1/volumes/dv-auth/attachments/node1")
        # A volume whose replica never reports stays creating: 409 volume_not_ready.
        fake = {"name": "dv-ghost", "address": "127.0.0.1", "nbd_port": 10809, "replication_port": 7789,
                "pools": [{"name": "ghostpool", "provider": "file", "thin": True, "snapshots": False,
                           "total_bytes": 1 << 30, "free_bytes": 1 << 30, "provisioned_bytes": 0}]}
        self.cluster.api.post("/v1/nodes", fake)
        self.cluster.api.post("/v1/resource-groups", {"name": "ghost1", "replicas": 1, "pools": ["ghostpool"]})
        self.cluster.api.post("/v1/volumes", {"name": "dv-creating", "size_bytes": MIB, "resource_group": "ghost1"})
        self.assertEqual(self.cluster.volume("dv-creating")["state"], "creating")
        status, _, _, _, small = self.get("dv-creating")
        self.assertEqual((status, json.loads(small)["error"]["code"]), (409, "volume_not_ready"))

    def test_cli_export_is_sparse_and_import_round_trips_with_resume(self):
        self.volume("dv-cli-a", 32 * MIB)
        self.volume("dv-cli-b", 32 * MIB)
        mib = 32
        self.assertEqual(self.put("dv-cli-a", self.image(mib), mib * MIB)[0], 200)
        want = self.image_sha(mib)
        out = os.path.join(self.tmp, "a.img")
        p = self.tandem("volume", "export", "dv-cli-a", out, "--json")
        report = json.loads(p.stdout)
        self.assertEqual((report["bytes"], report["size_bytes"], report["direction"]), (mib * MIB, mib * MIB, "export"))
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), want)
        data = sum(MIB for i in range(mib) if i % 3 != 1)
        self.assertLessEqual(self.allocated(out), data + MIB, "the exported file is not sparse")
        self.assertGreaterEqual(self.allocated(out), data)

        # Import with a forced progress bar, resumed: first everything, then from 20 MiB again.
        p = self.tandem("volume", "import", "dv-cli-b", out, "--progress")
        self.assertIn(b"100.0%", p.stderr)
        self.assertIn(b"imported", p.stdout)
        self.assertEqual(self.get("dv-cli-b")[2], want)
        p = self.tandem("volume", "import", "dv-cli-b", out, "--offset", str(20 * MIB), "--json")
        self.assertEqual(json.loads(p.stdout)["bytes"], 12 * MIB)
        # Export resumed at an offset over a file holding other bytes there: the same file.
        with open(out, "r+b") as f:
            f.seek(25 * MIB)
            f.write(b"\x55" * MIB)
        self.tandem("volume", "export", "dv-cli-b", out, "--offset", str(24 * MIB))
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), want)
        # stdout and stdin.
        p = self.tandem("volume", "export", "dv-cli-a", "-")
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), want)
        with open(out, "rb") as f:
            self.tandem("volume", "import", "dv-cli-b", "-", stdin=f)
        self.assertEqual(self.get("dv-cli-b")[2], want)
        # A file larger than the volume is refused before anything is sent.
        big = os.path.join(self.tmp, "big.img")
        with open(big, "wb") as f:
            f.truncate(33 * MIB)
        p = self.tandem("volume", "import", "dv-cli-b", big, expect=1)
        self.assertIn(b"more than volume", p.stderr)
        p = self.tandem("volume", "export", "dv-nope", out, expect=1)
        self.assertIn(b"volume_not_found", p.stderr)
