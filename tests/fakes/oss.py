"""A small Alibaba OSS: ListObjectsV2 (path-style, as ``oss2`` uses for an IP endpoint), with the
XML ``oss2`` parses, URL-encoded keys, pagination, scripted faults (``fail_next``; ``hold``, a
call that waits, for a check to be killed inside it) and a delay before every answer (``latency``:
a slow listing, so a check can be caught half-way)."""

import bisect
import threading
import time
from collections import deque
from urllib.parse import parse_qs, quote, urlparse
from xml.sax.saxutils import escape

from tests.fakes.server import FakeServer, QuickHandler


class FakeOSS(FakeServer):
    def __init__(self, access_key: str = "test-ak") -> None:
        self.access_key = access_key
        self.buckets: dict[str, dict[str, tuple[str, int, int]]] = {}  # key -> (etag, size, mtime)
        self._sorted: dict[str, list[bytes]] = {}  # each bucket's keys in byte order, kept until it changes
        self.list_calls = 0
        self.latency = 0.0  # seconds before every answer
        self.faults: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self._hold_at = 0  # the list call that waits for release(); 0: none
        self.held = threading.Event()  # set once that call is waiting
        self._released = threading.Event()
        self.serve(self._handler())

    def put(self, bucket: str, key: str, etag: str, size: int = 1, mtime: int | None = None) -> None:
        with self._lock:
            self.buckets.setdefault(bucket, {})[key] = (etag, size, mtime or int(time.time()))
            self._sorted.pop(bucket, None)

    def delete(self, bucket: str, key: str) -> None:
        with self._lock:
            del self.buckets[bucket][key]
            self._sorted.pop(bucket, None)

    def fail_next(self, count: int, status: int, code: str = "InternalError") -> None:
        with self._lock:
            self.faults.extend((status, code) for _ in range(count))

    def hold(self, call: int = 1) -> threading.Event:
        """Make the ``call``-th list call from now wait (up to two minutes) until ``release()``;
        returns an Event set once that call is waiting."""
        with self._lock:
            self._hold_at = self.list_calls + call
            self.held.clear()
            self._released.clear()
        return self.held

    def release(self) -> None:
        self._released.set()

    def __exit__(self, *exc) -> None:
        self.release()  # a held call answers, so that the server stops at once
        super().__exit__(*exc)

    def _list(self, bucket: str, query: dict[str, str]) -> tuple[int, bytes]:
        objects = self.buckets[bucket]
        prefix, token = query.get("prefix", ""), query.get("continuation-token", "")
        limit = min(int(query.get("max-keys", 100)), 1000)
        if bucket not in self._sorted:
            self._sorted[bucket] = sorted(k.encode() for k in objects)
        ordered = self._sorted[bucket]
        start = (
            bisect.bisect_right(ordered, token.encode())
            if token
            else bisect.bisect_left(ordered, prefix.encode())
        )
        page = []
        for raw in ordered[start:]:
            if len(page) > limit or not raw.startswith(prefix.encode()):
                break
            page.append(raw.decode())
        page, truncated = page[:limit], len(page) > limit
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
            held = self.list_calls == self._hold_at
        if held:
            self.held.set()
            self._released.wait(timeout=120)
        with self._lock:
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

        class Handler(QuickHandler):
            def do_GET(self) -> None:
                status, body = fake._handle(self.path, self.headers.get("Authorization", ""))
                time.sleep(fake.latency)  # counted in list_calls on arrival, answered late
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-oss-request-id", "fake-request")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a held call's client was killed
                    self.close_connection = True

            def do_POST(self) -> None:
                """/_fake/change?bucket=B&count=N: change N objects (a third modified, a third
                deleted, a third created), for benchmarks that run this server in its own process."""
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                done = fake.change(query["bucket"], int(query["count"]))
                body = str(done).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def change(self, bucket: str, count: int) -> int:
        keys = sorted(self.buckets[bucket])
        step = max(1, len(keys) // count)
        chosen = keys[::step][:count]
        for n, key in enumerate(chosen):
            if n % 3 == 0:
                self.put(bucket, key, f"changed-{n}")
            elif n % 3 == 1:
                self.delete(bucket, key)
            else:
                self.put(bucket, key + ".new", "new")
        return len(chosen)


def error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}</Message><RequestId>fake-request</RequestId>"
        "<HostId>127.0.0.1</HostId></Error>"
    )
    return status, body.encode()


if __name__ == "__main__":  # python -m tests.fakes.oss BUCKET COUNT: serve COUNT objects, print the URL
    import sys

    bucket, count = sys.argv[1], int(sys.argv[2])
    fake = FakeOSS()
    fake.buckets[bucket] = {f"data/{i:09d}.bin": (f"etag-{i}", i % 4096, 1763700000) for i in range(count)}
    with fake:
        print(fake.url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
