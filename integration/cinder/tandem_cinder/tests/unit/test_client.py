"""Unit tests of the REST client's edges that the driver tests do not reach."""

import os
import shutil
import tempfile

from cinder.tests.unit import test

from tandem_cinder import client
from tandem_cinder.tests.unit import fake_controller

GI = 1024 ** 3


class TandemClientTestCase(test.TestCase):

    def setUp(self):
        super(TandemClientTestCase, self).setUp()
        self.tmp = tempfile.mkdtemp(prefix='tandem-client-test-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.fake = fake_controller.FakeController(self.tmp).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_group('g', replicas=1)
        self.token_file = os.path.join(self.tmp, 'token')
        with open(self.token_file, 'w') as f:
            f.write(self.fake.token)
        self.client = client.Client([self.fake.url], self.token_file,
                                    self.fake.ca)
        self.client.post(client.path('volumes'),
                         {'name': 'v', 'size_gib': 1, 'resource_group': 'g'})

    def test_rejects_bad_urls(self):
        for urls in ([], ['http://127.0.0.1:8443'], ['https://']):
            self.assertRaises(ValueError, client.Client, urls,
                              self.token_file)

    def test_path_quotes_each_segment(self):
        self.assertEqual('/v1/volumes/a%2Fb/attachments/h%20x',
                         client.path('volumes', 'a/b', 'attachments', 'h x'))

    def test_empty_token_file(self):
        with open(self.token_file, 'w') as f:
            f.write('\n')
        err = self.assertRaises(client.TandemError, self.client.get,
                                client.path('volumes'))
        self.assertEqual('token_file', err.code)
        self.assertEqual([], self.fake.calls(prefix='/v1/volumes/'))

    def test_error_body_that_is_not_json(self):
        self.fake.raw_answer = (502, b'<html>bad gateway</html>')
        err = self.assertRaises(client.TandemError, self.client.get,
                                client.path('volumes', 'v'))
        self.assertEqual((502, 'http_502', '<html>bad gateway</html>'),
                         (err.status, err.code, err.message))

    def test_answer_that_is_not_json(self):
        self.fake.raw_answer = (200, b'not json')
        err = self.assertRaises(client.TandemError, self.client.get,
                                client.path('volumes', 'v'))
        self.assertEqual('protocol_error', err.code)

    def test_download_keeps_zeros_as_holes(self):
        self.fake.volumes['v']['data'][:3] = b'abc'
        out = os.path.join(self.tmp, 'out')
        with open(out, 'wb') as f:
            self.assertEqual(GI, self.client.download(
                client.path('volumes', 'v', 'data'), f))
        st = os.stat(out)
        self.assertEqual(GI, st.st_size)
        self.assertLess(st.st_blocks * 512, 8 * 1024 * 1024)
        with open(out, 'rb') as f:
            self.assertEqual(b'abc\0', f.read(4))

    def test_download_cut_short(self):
        self.fake.stream_limit = 5 * 1024 * 1024
        with open(os.path.join(self.tmp, 'out'), 'wb') as f:
            err = self.assertRaises(client.TandemError, self.client.download,
                                    client.path('volumes', 'v', 'data'), f)
        self.assertIn(err.code, ('short_read', 'unreachable'))
        self.assertIn('5242880', str(err))

    def test_download_error(self):
        with open(os.path.join(self.tmp, 'out'), 'wb') as f:
            err = self.assertRaises(client.TandemError, self.client.download,
                                    client.path('volumes', 'nope', 'data'), f)
        self.assertEqual(404, err.status)

    def test_upload_shorter_than_the_volume_says_its_range(self):
        # The controller refuses a body shorter than the volume without a
        # Content-Range (length_mismatch); the client always sends one.
        src = os.path.join(self.tmp, 'src')
        with open(src, 'wb') as f:
            f.write(b'abcdef')
        with open(src, 'rb') as f:
            self.client.upload(client.path('volumes', 'v', 'data'), f, 6)
        self.assertEqual(b'abcdef', bytes(self.fake.volumes['v']['data'][:6]))

    def test_upload_is_retried_from_the_start_on_the_next_controller(self):
        busy, bundle = fake_controller.busy_controller(self, self.tmp,
                                                       [self.fake])
        c = client.Client([busy.url, self.fake.url], self.token_file, bundle)
        src = os.path.join(self.tmp, 'src')
        with open(src, 'wb') as f:
            f.write(b'0123456789')
        with open(src, 'rb') as f:
            f.read(4)
            c.upload(client.path('volumes', 'v', 'data'), f, 10)
        self.assertEqual(b'0123456789', bytes(self.fake.volumes['v']['data']))
        self.assertEqual(1, len(busy.requests))
