"""A small Jira: enough of the REST API v2 for the real ``jira`` client to create issues, with
faults a test can script (an error status for the next N calls, optionally with Retry-After)."""

import base64
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class FakeJira:
    def __init__(self, user: str = "hub-bot", token: str = "test-token", projects=("OPS", "SALES")) -> None:
        self.credentials = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.projects = set(projects)
        self.issues: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: deque[Fault] = deque()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeJira":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int, body: dict | None = None, **headers: str) -> None:
        """Answer the next ``count`` API calls with ``status`` instead of serving them."""
        with self._lock:
            self.faults.extend(Fault(status, body or {}, headers) for _ in range(count))

    @property
    def summaries(self) -> list[str]:
        with self._lock:
            return sorted(issue["fields"]["summary"] for issue in self.issues.values())

    def _handle(self, method: str, path: str, auth: str | None, body: bytes) -> tuple[int, dict, dict]:
        with self._lock:
            self.requests.append((method, path))
            if auth != self.credentials:
                return 401, {"errorMessages": ["You are not authenticated."]}, {}
            if self.faults:
                fault = self.faults.popleft()
                return fault.status, fault.body, fault.headers
            if method == "GET" and path.startswith("/rest/api/2/serverInfo"):
                return (
                    200,
                    {"versionNumbers": [10, 0, 0], "deploymentType": "Server", "version": "10.0.0"},
                    {},
                )
            if method == "POST" and path == "/rest/api/2/issue":
                return self._create(json.loads(body or b"{}"))
            if method == "GET" and path.startswith("/rest/api/2/issue/"):
                issue = self.issues.get(path.rsplit("/", 1)[1])
                return (200, issue, {}) if issue else (404, {"errorMessages": ["Issue does not exist"]}, {})
            return 404, {"errorMessages": [f"no route {method} {path}"]}, {}

    def _create(self, payload: dict) -> tuple[int, dict, dict]:
        fields = payload.get("fields", {})
        project = fields.get("project", {}).get("key")
        errors = {}
        if project not in self.projects:
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            return 400, {"errorMessages": [], "errors": errors}, {}
        number = next(self._numbers)
        key = f"{project}-{number}"
        self.issues[key] = {"id": str(10000 + number), "key": key, "fields": fields}
        return 201, {"id": str(10000 + number), "key": key, "self": f"{self.url}/rest/api/2/issue/{key}"}, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake._handle(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler
