"""A small Jira: enough of the REST API v2 for the real ``jira`` client to create issues, search
them by label, comment and set issue properties, with faults a test can script:

- ``fail_next(n, status, body, Retry_After=...)``: answer the next n calls with that status;
- ``slow_next(n, seconds)``: do the next n calls, but answer only after ``seconds``;
- ``cut_next(n)``: do the next n calls, then close the connection without answering;
- ``search_lag``: new issues stay invisible to search for that many seconds;
- ``latency``: every answer waits that long.

Faults apply to creates only (``on="create"``, the default) or to every call but serverInfo
(``on="any"``). Every request is kept with its time in ``log``. Like Jira Cloud it refuses (400)
a summary that is empty, not one line or over 255 characters, a description or comment over
32,767, and a label that is empty, holds white space or is over 255 (counted in UTF-16 units, as
Java counts).
"""

import base64
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.server import FakeServer, QuickHandler

LABEL_JQL = re.compile(r'labels\s*=\s*"?([^"\s]+)"?')
TEXT_LIMIT = 32_767
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


def java_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Fault:
    kind: str  # "status", "slow" or "cut"
    on: str  # "create" or "any"
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Logged:
    at: float  # time.monotonic()
    method: str
    path: str
    status: int = 0
    wall: float = 0.0  # time.time(), to compare with the hub's records
    body: bytes = b""  # what the hub sent


class FakeJira(FakeServer):
    def __init__(self, user: str = "hub-bot", token: str = "test-token", projects=("OPS", "SALES")) -> None:
        self.credentials = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.projects = set(projects)
        self.issues: dict[str, dict[str, Any]] = {}
        self.created_at: dict[str, float] = {}
        self.comments: dict[str, list[str]] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.log: list[Logged] = []
        self.faults: deque[Fault] = deque()
        self.search_lag = 0.0
        self.latency = 0.0  # seconds before every answer (a slow but healthy Jira)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.serve(self._handler())

    # --- scripting ---------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int, body: dict | None = None, on: str = "create", **headers: str
    ):
        with self._lock:
            self.faults.extend(
                Fault("status", on, status, body or {"errorMessages": [f"fake {status}"]}, headers)
                for _ in range(count)
            )

    def slow_next(self, count: int, seconds: float, on: str = "create") -> None:
        with self._lock:
            self.faults.extend(Fault("slow", on, seconds=seconds) for _ in range(count))

    def cut_next(self, count: int, on: str = "create") -> None:
        with self._lock:
            self.faults.extend(Fault("cut", on) for _ in range(count))

    # --- reading -----------------------------------------------------------------------------

    @property
    def summaries(self) -> list[str]:
        with self._lock:
            return sorted(issue["fields"]["summary"] for issue in self.issues.values())

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(entry.method, entry.path) for entry in self.log]

    def sent(self) -> bytes:
        """Every request body the hub sent, together."""
        with self._lock:
            return b"\n".join(entry.body for entry in self.log)

    def creates(self) -> list[Logged]:
        with self._lock:
            return [e for e in self.log if e.method == "POST" and e.path == "/rest/api/2/issue"]

    # --- serving -----------------------------------------------------------------------------

    def _next_fault(self, is_create: bool) -> Fault | None:
        if self.faults and (self.faults[0].on == "any" or is_create):
            return self.faults.popleft()
        return None

    def _handle(
        self, method: str, path: str, auth: str | None, body: bytes
    ) -> tuple[int, dict, dict, Fault | None]:
        url = urlparse(path)
        with self._lock:
            entry = Logged(time.monotonic(), method, url.path, wall=time.time(), body=body)
            self.log.append(entry)
            status, payload, headers, fault = self._route(method, url, auth, body)
            entry.status = status
            return status, payload, headers, fault

    def _route(self, method, url, auth, body):
        if auth != self.credentials:
            return 401, {"errorMessages": ["You are not authenticated."]}, {}, None
        if url.path.startswith("/rest/api/2/serverInfo"):
            return (
                200,
                {"versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "version": "1001.0.0"},
                {},
                None,
            )
        is_create = method == "POST" and url.path == "/rest/api/2/issue"
        fault = self._next_fault(is_create)
        if fault and fault.kind == "status":
            return fault.status, fault.body, fault.headers, None
        status, payload = self._serve(method, url, body)
        return status, payload, {}, fault  # a slow or cut fault acts after the work is done

    def _serve(self, method, url, body) -> tuple[int, dict]:
        path = url.path
        if method == "POST" and path == "/rest/api/2/issue":
            return self._create(json.loads(body or b"{}"))
        if method == "GET" and path == "/rest/api/2/field":
            return 200, [
                {"id": name, "name": name.title(), "custom": False} for name in ("summary", "labels")
            ]
        if method == "GET" and path in ("/rest/api/2/search/jql", "/rest/api/2/search"):
            return 200, self._search(parse_qs(url.query).get("jql", [""])[0])
        found = re.fullmatch(r"/rest/api/2/issue/([^/]+)(/comment|/properties/[^/]+)?", path)
        if not found or found.group(1) not in self.issues:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        key, sub = found.group(1), found.group(2) or ""
        if method == "GET" and not sub:
            return 200, self.issues[key]
        if method == "POST" and sub == "/comment":
            if java_length(json.loads(body)["body"]) > TEXT_LIMIT:
                return 400, {"errorMessages": [], "errors": {"comment": TOO_LONG}}
            self.comments.setdefault(key, []).append(json.loads(body)["body"])
            return 201, {"id": str(len(self.comments[key])), "body": json.loads(body)["body"]}
        if method == "PUT" and sub.startswith("/properties/"):
            self.properties.setdefault(key, {})[sub.rsplit("/", 1)[1]] = json.loads(body)
            return 200, {}
        return 404, {"errorMessages": [f"no route {method} {path}"]}

    def _create(self, payload: dict) -> tuple[int, dict]:
        fields = payload.get("fields", {})
        project = fields.get("project", {}).get("key")
        errors = {}
        if project not in self.projects:
            errors["project"] = "valid project is required"
        summary = fields.get("summary") or ""
        if not summary:
            errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif java_length(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if java_length(fields.get("description") or "") > TEXT_LIMIT:
            errors["description"] = TOO_LONG
        for label in fields.get("labels", []):
            if not label or any(ch.isspace() for ch in label):
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
            elif java_length(label) > 255:
                errors["labels"] = "A label is longer than the maximum of 255 characters."
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        number = next(self._numbers)
        key = f"{project}-{number}"
        self.issues[key] = {"id": str(10000 + number), "key": key, "fields": fields}
        self.created_at[key] = time.monotonic()
        return 201, {"id": str(10000 + number), "key": key, "self": f"{self.url}/rest/api/2/issue/{key}"}

    def _search(self, jql: str) -> dict:
        found = LABEL_JQL.search(jql)
        label = found.group(1) if found else None
        visible_before = time.monotonic() - self.search_lag
        issues = [
            {"id": issue["id"], "key": key, "fields": {"labels": issue["fields"].get("labels", [])}}
            for key, issue in self.issues.items()
            if label in issue["fields"].get("labels", []) and self.created_at[key] <= visible_before
        ]
        return {"issues": issues, "isLast": True}

    def _handler(self):
        fake = self

        class Handler(QuickHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers, fault = fake._handle(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
                if fault and fault.kind == "cut":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(fault.seconds if fault and fault.kind == "slow" else fake.latency)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name.replace("_", "-"), value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True  # the client gave up waiting

            do_GET = do_POST = do_PUT = _serve

        return Handler
