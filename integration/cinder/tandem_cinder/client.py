#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""A thin HTTPS/JSON client of the Tandem controller's REST API.

One request per call, tried on each configured controller URL in turn
(starting with the one that answered last) while a controller cannot be
reached or answers 503; any other answer is final. The bearer token is read
from its file at every request, so a rotated token needs no restart.
Standard library only (http.client, ssl): nothing beyond what Cinder has.
"""

import http.client
import json
import ssl
import urllib.parse

# Bytes moved per read/write when streaming volume data.
CHUNK = 1024 * 1024


class TandemError(Exception):
    """An error answer of the controller, or no answer at all.

    ``status`` is the HTTP status (None when no controller answered),
    ``code`` the controller's machine-readable reason (``error.code``),
    ``message`` its human-readable text.
    """

    def __init__(self, status, code, message):
        super(TandemError, self).__init__(
            '%s (%s%s)' % (message, code,
                           ', HTTP %s' % status if status else ''))
        self.status = status
        self.code = code
        self.message = message


class ControllerUnreachable(TandemError):
    """No controller answered (connection, TLS, timeout errors or 503)."""

    def __init__(self, message, busy_code=None):
        super(ControllerUnreachable, self).__init__(None, 'unreachable',
                                                    message)
        # The error code of the last 503 answer (e.g. detach_timeout), if
        # the last controller tried answered 503.
        self.busy_code = busy_code


def path(*segments):
    """/v1/<segments>, each segment percent-quoted (so '/' stays inside)."""
    return '/v1/' + '/'.join(urllib.parse.quote(str(s), safe='')
                             for s in segments)


def _error_from(status, raw):
    try:
        err = json.loads(raw)['error']
        return TandemError(status, err.get('code') or 'http_%d' % status,
                           err.get('message') or '')
    except (ValueError, KeyError, TypeError):
        text = raw.decode('utf-8', 'replace').strip()[:200]
        return TandemError(status, 'http_%d' % status,
                           text or 'no error body')


class Client(object):
    """Talks to the controllers at ``urls`` (https://host:port), verifying
    them against ``ca_file`` (None: the system's CA store) and sending the
    token in ``token_file``."""

    def __init__(self, urls, token_file, ca_file=None, connect_timeout=10,
                 request_timeout=60):
        self._targets = []
        for url in urls:
            u = urllib.parse.urlsplit(url.strip())
            if u.scheme != 'https' or not u.hostname:
                raise ValueError('controller URL %r must be '
                                 'https://host[:port]' % url)
            self._targets.append((url.strip(), u.hostname, u.port or 443))
        if not self._targets:
            raise ValueError('no controller URL')
        self._token_file = token_file
        self._context = ssl.create_default_context(cafile=ca_file)
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._preferred = 0

    def _token(self):
        try:
            with open(self._token_file) as f:
                token = f.read().strip()
        except OSError as e:
            raise TandemError(None, 'token_file',
                              'cannot read the token file %s: %s'
                              % (self._token_file, e.strerror or e))
        if not token:
            raise TandemError(None, 'token_file',
                              'the token file %s is empty' % self._token_file)
        return token

    def _send(self, method, target, url_path, headers, body):
        """One attempt on one controller; returns (connection, response),
        the response not read yet. ``body`` is bytes or a seekable file,
        which is sent from its start."""
        _, host, port = target
        conn = http.client.HTTPSConnection(
            host, port, timeout=self._connect_timeout, context=self._context)
        try:
            conn.connect()
            conn.sock.settimeout(self._request_timeout)
            conn.putrequest(method, url_path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            if isinstance(body, bytes):
                conn.send(body)
            elif body is not None:
                body.seek(0)
                while True:
                    chunk = body.read(CHUNK)
                    if not chunk:
                        break
                    conn.send(chunk)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def _exchange(self, method, url_path, headers, body=None):
        """Sends the request to each controller in turn; returns
        (connection, response) of the first that does not answer 503."""
        headers = dict(headers)
        headers['Authorization'] = 'Bearer ' + self._token()
        failures = []
        busy_code = None
        n = len(self._targets)
        for i in [(self._preferred + k) % n for k in range(n)]:
            target = self._targets[i]
            try:
                conn, resp = self._send(method, target, url_path, headers,
                                        body)
            except (OSError, http.client.HTTPException) as e:
                # Refused, DNS, TLS verification, timeouts (socket.timeout
                # is an OSError): this one is unreachable, try the next.
                failures.append('%s: %s' % (target[0], e))
                continue
            if resp.status == 503:
                err = _error_from(503, resp.read())
                failures.append('%s: %s' % (target[0], err))
                busy_code = err.code
                conn.close()
                continue
            busy_code = None
            self._preferred = i
            return conn, resp
        raise ControllerUnreachable(
            'no Tandem controller answered %s %s: %s'
            % (method, url_path, '; '.join(failures)), busy_code)

    def request(self, method, url_path, body=None, query=None):
        """Sends a JSON request; returns the decoded JSON answer (None for
        an empty body). Raises TandemError for an error status and
        ControllerUnreachable when no controller answered."""
        if query:
            url_path += '?' + urllib.parse.urlencode(query)
        headers = {'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers['Content-Type'] = 'application/json'
            headers['Content-Length'] = str(len(data))
        elif method in ('POST', 'PUT', 'PATCH'):
            headers['Content-Length'] = '0'
        conn, resp = self._exchange(method, url_path, headers, data)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise ControllerUnreachable('reading the answer to %s %s '
                                        'failed: %s' % (method, url_path, e))
        finally:
            conn.close()
        if resp.status >= 400:
            raise _error_from(resp.status, raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise TandemError(resp.status, 'protocol_error',
                              'the answer to %s %s is not JSON'
                              % (method, url_path))

    def get(self, url_path, query=None):
        return self.request('GET', url_path, query=query)

    def post(self, url_path, body=None):
        return self.request('POST', url_path,
                            body if body is not None else {})

    def patch(self, url_path, body):
        return self.request('PATCH', url_path, body)

    def delete(self, url_path, query=None):
        return self.request('DELETE', url_path, query=query)

    def version(self):
        """GET /v1/version (open; the token file must be readable anyway)."""
        return self.get(path('version'))

    def upload(self, url_path, fileobj, length):
        """PUT ``length`` bytes of ``fileobj`` (seekable, sent from 0) as
        bytes [0, length) of the volume: a Content-Range says so, as the
        controller takes a body shorter than the volume only with one."""
        headers = {'Content-Type': 'application/octet-stream',
                   'Content-Length': str(length),
                   'Accept': 'application/json'}
        if length > 0:
            headers['Content-Range'] = 'bytes 0-%d/*' % (length - 1)
        conn, resp = self._exchange('PUT', url_path, headers, fileobj)
        try:
            raw = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise _error_from(resp.status, raw)

    def download(self, url_path, fileobj):
        """GET a byte stream into ``fileobj``; chunks of zeros become holes
        (seek) so a sparse volume stays sparse on disk. Returns the number
        of bytes received; a stream shorter than its Content-Length raises
        TandemError."""
        conn, resp = self._exchange('GET', url_path,
                                    {'Accept': 'application/octet-stream'})
        try:
            if resp.status >= 400:
                raise _error_from(resp.status, resp.read())
            expected = resp.getheader('Content-Length')
            received = 0
            hole = False
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise ControllerUnreachable(
                        'reading %s failed after %d bytes: %s'
                        % (url_path, received, e))
                if not chunk:
                    break
                received += len(chunk)
                if chunk.count(0) == len(chunk):
                    fileobj.seek(len(chunk), 1)
                    hole = True
                else:
                    fileobj.write(chunk)
                    hole = False
            if hole:
                fileobj.truncate(fileobj.tell())
            if expected is not None and int(expected) != received:
                raise TandemError(resp.status, 'short_read',
                                  '%s ended after %d of %s bytes'
                                  % (url_path, received, expected))
            return received
        finally:
            conn.close()
