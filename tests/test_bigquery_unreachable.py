"""BigQuery that cannot be reached fails in seconds; a wait on one that answers errors says so.

Bound: a refused connection or an unknown host ends the command in one call, no retry (measured
here under 10 s including the interpreter's start; it was the client's 600 s retry deadline);
retryable errors (5xx, 429) keep the client's 600 s, with a line on stderr at each retry.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from analyzer.cli import main

SOURCE = "proj.dataset.events"


def _refused_port() -> int:
    """A port on 127.0.0.1 with nobody listening (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _summary(endpoint: str) -> list[str]:
    return [
        *("summary", "--env", "staging", "--engine", "bigquery", "--source", SOURCE),
        *("--bq-endpoint", endpoint, "--anonymous"),
    ]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:{port}", "http://no-such-host.invalid"])
def test_an_endpoint_nobody_answers_fails_in_seconds(endpoint: str) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from analyzer.cli import main; main()",
            *_summary(endpoint.format(port=_refused_port())),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took_s = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert took_s < 10, took_s
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot reach BigQuery at" in lines[0]
    assert ("connection refused" if "127.0.0.1" in endpoint else "unknown host") in lines[0]


class _Unwell(BaseHTTPRequestHandler):
    """503 to the first `failures` requests, then 404 for every table (as BigQuery says it)."""

    failures = 2
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        if type(self).seen <= self.failures:
            self._answer(503, "backendError", "the backend is unwell")
        else:
            self._answer(404, "notFound", f"Not found: {self.path}")

    def _answer(self, code: int, reason: str, message: str) -> None:
        body = json.dumps(
            {"error": {"code": code, "message": message, "errors": [{"reason": reason}]}}
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def unwell_endpoint() -> Iterator[str]:
    _Unwell.seen = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unwell)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_retries_say_what_they_wait_for(unwell_endpoint: str) -> None:
    result = CliRunner().invoke(main, _summary(unwell_endpoint))
    assert result.exit_code == 1, result.output
    retries = [line for line in result.stderr.splitlines() if "retrying" in line]
    assert len(retries) == 2, result.stderr
    assert all("ServiceUnavailable" in line and "of at most 600 s" in line for line in retries)
    assert result.stderr.splitlines()[-1].startswith("error: cannot read --source")
