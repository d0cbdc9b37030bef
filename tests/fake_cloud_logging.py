"""A local Cloud Logging API for tests: `POST /v2/entries:list` as the real API speaks it.

Request body: `resourceNames`, `filter`, `orderBy`, `pageSize`, `pageToken`. Answer: `entries`
and `nextPageToken`, the token left out on the last page. It evaluates the filters the
collector writes (AND of clauses; OR groups; `:*`, `:"text"`, `=`, `>=`, `<`, `>` on dotted
fields), answers 400 INVALID_ARGUMENT to anything else, 404 to unknown projects and 403 to
`projects/forbidden`, and injects faults by request number: error statuses (429, 503, 401...),
empty pages that carry a token, a connection cut mid-body ("cut"), a 200 with an HTML body
("html"), a body dripped one byte every `drip_s` ("drip"), a gzip answer padded to inflate to
`inflated_bytes` ("gzip", a few kilobytes a megabyte on the wire). It can also serve the pages of a
listing in a shuffled order (`shuffle_pages`) or send every page's own token back as the next
one (`loop_tokens`), and pass entries the filter would refuse (`unfiltered_ids`).
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEVERITIES = [
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
]
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class FilterError(ValueError):
    pass


def _split(text: str, word: str) -> list[str]:
    """Split on ` word ` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    token = f" {word} "
    while i < len(text):
        c = text[i]
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(token, i):
            parts.append(text[start:i])
            i += len(token)
            start = i
            continue
        i += 1
    if depth or quoted:
        raise FilterError("unbalanced parentheses or quotes")
    parts.append(text[start:])
    return [p.strip() for p in parts]


_ATOM = re.compile(r'^([A-Za-z_][\w.]*)\s*(:|>=|<=|=|<|>)\s*(\*|"(?:[^"\\]|\\.)*"|[\w.:-]+)$')


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _compare(path: str, left: Any, right: str) -> tuple[Any, Any]:
    if path == "timestamp":
        return _instant(str(left)), _instant(right)
    if path == "severity":
        return SEVERITIES.index(str(left or "DEFAULT")), SEVERITIES.index(right)
    return str(left), right


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(f"bad timestamp {text!r}") from exc


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    def atom(expr: str) -> Callable[[dict[str, Any]], bool]:
        expr = expr.strip()
        if expr.startswith("(") and expr.endswith(")"):
            return compile_filter(expr[1:-1])
        match = _ATOM.match(expr)
        if not match:
            raise FilterError(f"cannot parse {expr!r}")
        path, op, raw = match.groups()
        if path == "severity" and raw.strip('"') not in SEVERITIES:
            raise FilterError(f"unknown severity {raw}")
        value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw

        def test(entry: dict[str, Any]) -> bool:
            found = _field(entry, path)
            if op == ":":
                return (
                    found is not None if value == "*" else value.lower() in str(found or "").lower()
                )
            if found is None:
                return False
            left, right = _compare(path, found, value)
            return {
                "=": left == right,
                ">=": left >= right,
                "<=": left <= right,
                "<": left < right,
                ">": left > right,
            }[op]

        return test

    ands = [_split(clause, "OR") for clause in _split(text, "AND")]
    tests = [[atom(a) for a in ors] for ors in ands]
    return lambda entry: all(any(t(entry) for t in ors) for ors in tests)


@dataclass
class FakeCloudLogging:
    """The server's state; `faults` maps a request number (1-based) to a status code, "empty",
    "cut", "html", "drip" or "gzip"."""

    entries: list[dict[str, Any]]
    project: str = "demo"
    faults: dict[int, int | str] = field(default_factory=dict)
    delay_s: float = 0.0
    shuffle_pages: bool = False
    loop_tokens: bool = False
    drip_s: float = 2.0
    inflated_bytes: int = 64 * 2**20
    unfiltered_ids: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server_errors: int = 0  # handler errors the server swallowed (clients that hung up)
    answered_entries: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        unique = {e["insertId"]: e for e in self.entries}  # the API returns an entry once
        self.entries = sorted(unique.values(), key=lambda e: (e["timestamp"], e["insertId"]))
        self.lock = threading.Lock()
        self._selected: dict[tuple[str, str | None], list[dict[str, Any]]] = {}

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], str | None]:
        """(status, answer, how to send it: None, "cut", "html", "drip" or "gzip")."""
        with self.lock:
            self.requests.append(body)
            number = len(self.requests)
        if self.delay_s:
            time.sleep(self.delay_s)
        fault = self.faults.get(number)
        if isinstance(fault, int):
            return fault, _error(fault, "injected fault"), None
        names = body.get("resourceNames") or []
        if names == ["projects/forbidden"]:
            return 403, _error(403, "The caller does not have permission"), None
        if names != [f"projects/{self.project}"]:
            return 404, _error(404, f"Project {names} not found"), None
        try:
            selected = self._select(body.get("filter", ""), body.get("orderBy"))
            position = _decode(body.get("pageToken"))
        except FilterError as exc:
            return 400, _error(400, f"Invalid filter: {exc}"), None
        except ValueError:
            return 400, _error(400, "Invalid page token"), None
        size = int(body.get("pageSize") or 50)
        if fault == "empty":
            return 200, {"nextPageToken": _encode(position, number)}, None
        pages = math.ceil(len(selected) / size)
        order = list(range(pages))
        if self.shuffle_pages:
            random.Random(len(selected)).shuffle(order)
        chunk = order[position] if position < pages else pages
        page = selected[chunk * size : (chunk + 1) * size]
        answer: dict[str, Any] = {"entries": page}
        if self.loop_tokens:
            answer["nextPageToken"] = _encode(position)
        elif position + 1 < pages:
            answer["nextPageToken"] = _encode(position + 1)
        if fault in ("cut", "html", "drip", "gzip"):
            return 200, answer, str(fault)
        with self.lock:
            self.answered_entries += len(page)
        return 200, answer, None

    def _select(self, text: str, order_by: str | None) -> list[dict[str, Any]]:
        """The entries a filter selects, in order; kept per filter, as paging repeats it."""
        key = (text, order_by)
        if key not in self._selected:
            matches = compile_filter(text)
            selected = [
                e for e in self.entries if e["insertId"] in self.unfiltered_ids or matches(e)
            ]
            if order_by == "timestamp desc":
                selected.reverse()
            self._selected[key] = selected
        return self._selected[key]

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?")[0] != "/v2/entries:list":
                    self._send(404, _error(404, f"no such method {self.path}"))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, _error(400, "body is not JSON"))
                    return
                self._send(*state.answer(body))

            def _send(self, status: int, payload: dict[str, Any], how: str | None = None) -> None:
                data = json.dumps(payload).encode()
                kind = "application/json"
                if how == "html":
                    data, kind = b"<html><body><h1>Sign in</h1></body></html>", "text/html"
                if how == "gzip":
                    data = _gzip_padded(data, state.inflated_bytes)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                if how == "gzip":
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if how == "cut":  # half the body, then the connection closes
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if how == "drip":
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(state.drip_s)
                    return
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up on a fault it was sent (a cut body, an HTML page) is
                # the point of the fault; the default prints a traceback into whatever stderr
                # the test captures.
                state.server_errors += 1

        server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def running(entries: list[dict[str, Any]]) -> Iterator[FakeCloudLogging]:
    """A server over these entries, its address in `.url`, stopped afterwards."""
    fake = FakeCloudLogging(entries=list(entries))
    server, fake.url = fake.serve()
    try:
        yield fake
    finally:
        server.shutdown()


def _gzip_padded(answer: bytes, inflated_bytes: int) -> bytes:
    """`answer` (a JSON object) gzipped, padded with spaces before its closing brace to inflate
    to about `inflated_bytes`. Each megabyte of spaces is deflated once from a reset dictionary,
    so its bytes repeat and a gigabyte costs the server no more than a megabyte."""
    mebibyte = b" " * 2**20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(answer[:-1]) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mebibyte) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(answer[-1:]) + deflate.flush()
    blocks = max(inflated_bytes - len(answer), 0) // len(mebibyte)
    crc = zlib.crc32(answer[:-1])
    for _ in range(blocks):
        crc = zlib.crc32(mebibyte, crc)
    crc = zlib.crc32(answer[-1:], crc)
    size = len(answer) + blocks * len(mebibyte)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + head + block * blocks + tail + trailer


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}}


def _encode(position: int, nonce: int = 0) -> str:
    """A page's token; `nonce` makes an empty page's token new, as the API's are."""
    document = {"o": position, "n": nonce} if nonce else {"o": position}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def _decode(token: str | None) -> int:
    """The page a token names; ValueError for a token this server did not write."""
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"bad page token {token!r}") from exc


def telemetry_count(
    entries: Iterable[dict[str, Any]], matches: Callable[[dict[str, Any]], bool]
) -> int:
    return len({e["insertId"] for e in entries if matches(e)})
