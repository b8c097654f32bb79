"""A webhook's far end: an HTTP server on 127.0.0.1 that keeps every request it is sent (path,
headers, body) and answers as told: ``answers`` is a list of (status, headers, body, delay)
used one per request, then 200 with ``{"id": "<n>"}``. ``hang`` seconds before any answer makes
it a peer that does not answer in time."""

import json
import threading
import time
from dataclasses import dataclass, field

from tests.fakes.server import FakeServer, QuickHandler


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Sink(FakeServer):
    answers: list[tuple[int, dict[str, str], bytes, float]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        sink = self

        class Handler(QuickHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.received.append(Received(self.path, dict(self.headers), body))
                    number = len(sink.received)
                    answer = sink.answers.pop(0) if sink.answers else None
                status, headers, text, delay = answer or (
                    200,
                    {},
                    json.dumps({"id": str(number)}).encode(),
                    0,
                )
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the hub gave up waiting: what it was sent is kept all the same

        self.serve(Handler)
