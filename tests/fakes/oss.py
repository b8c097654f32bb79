"""A small Alibaba OSS: ListObjectsV2 (path-style, as ``oss2`` uses for an IP endpoint), with the
XML ``oss2`` parses, URL-encoded keys, pagination, and scripted faults (``fail_next``)."""

import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse
from xml.sax.saxutils import escape


class FakeOSS:
    def __init__(self, access_key: str = "test-ak") -> None:
        self.access_key = access_key
        self.buckets: dict[str, dict[str, tuple[str, int, int]]] = {}  # key -> (etag, size, mtime)
        self.list_calls = 0
        self.faults: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put(self, bucket: str, key: str, etag: str, size: int = 1, mtime: int | None = None) -> None:
        with self._lock:
            self.buckets.setdefault(bucket, {})[key] = (etag, size, mtime or int(time.time()))

    def delete(self, bucket: str, key: str) -> None:
        with self._lock:
            del self.buckets[bucket][key]

    def fail_next(self, count: int, status: int, code: str = "InternalError") -> None:
        with self._lock:
            self.faults.extend((status, code) for _ in range(count))

    def _list(self, bucket: str, query: dict[str, str]) -> tuple[int, bytes]:
        objects = self.buckets[bucket]
        prefix, token = query.get("prefix", ""), query.get("continuation-token", "")
        limit = min(int(query.get("max-keys", 100)), 1000)
        keys = sorted((k for k in objects if k.startswith(prefix)), key=lambda k: k.encode())
        if token:
            keys = [k for k in keys if k.encode() > token.encode()]
        page, truncated = keys[:limit], len(keys) > limit
        rows = []
        for key in page:
            etag, size, mtime = objects[key]
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(mtime))
            rows.append(
                f"<Contents><Key>{quote(key)}</Key><LastModified>{stamp}</LastModified>"
                f'<ETag>"{escape(etag)}"</ETag><Type>Normal</Type><Size>{size}</Size>'
                "<StorageClass>Standard</StorageClass></Contents>"
            )
        more = f"<NextContinuationToken>{quote(page[-1])}</NextContinuationToken>" if truncated else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
            f"<Name>{bucket}</Name><Prefix>{quote(prefix)}</Prefix><MaxKeys>{limit}</MaxKeys>"
            f"<EncodingType>url</EncodingType><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"{more}<KeyCount>{len(page)}</KeyCount>{''.join(rows)}</ListBucketResult>"
        )
        return 200, body.encode()

    def _handle(self, path: str, auth: str) -> tuple[int, bytes]:
        url = urlparse(path)
        bucket = url.path.strip("/").split("/")[0]
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self._lock:
            self.list_calls += 1
            if not auth.startswith(f"OSS {self.access_key}:"):
                return error(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist.")
            if self.faults:
                status, code = self.faults.popleft()
                return error(status, code, "fake fault")
            if bucket not in self.buckets:
                return error(404, "NoSuchBucket", "The specified bucket does not exist.")
            return self._list(bucket, query)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed ACKs

            def do_GET(self) -> None:
                status, body = fake._handle(self.path, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-oss-request-id", "fake-request")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler


def error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}</Message><RequestId>fake-request</RequestId>"
        "<HostId>127.0.0.1</HostId></Error>"
    )
    return status, body.encode()
