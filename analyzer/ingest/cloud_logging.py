"""The Cloud Logging side of `collect`: the official client, the filter, request pacing, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from analyzer.errors import AnalyzerError

ENTRIES_PER_PAGE = 1000
# The text lines of TELEMETRY.md §3 all start with one of these.
TEXT_PREFIXES = ("SMD ", "VPC connector", "Database circuit breaker", "Database fallback applied")
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_filter(
    *, since: datetime, until: datetime, service: str | None = None, extra: str | None = None
) -> str:
    """The server-side filter: both timestamp bounds (without one the client adds a 24-hour
    bound of its own), Cloud Run revisions, the service, startup telemetry only, and `extra`."""
    telemetry = " OR ".join(
        ["jsonPayload.event:*"]
        + [f'textPayload:"{p}"' for p in TEXT_PREFIXES]
        + [f'jsonPayload.message:"{p}"' for p in TEXT_PREFIXES]
    )
    clauses = [
        f'timestamp>="{rfc3339(since)}"',
        f'timestamp<"{rfc3339(until)}"',
        'resource.type="cloud_run_revision"',
    ]
    if service:
        clauses.append(f'resource.labels.service_name="{_quote(service)}"')
    clauses.append(f"({telemetry})")
    if extra:
        clauses.append(f"({extra})")
    return " AND ".join(clauses)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class RequestPacer:
    """Spaces requests at most `per_minute` a minute, across everything one run does, and
    counts them."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = 60.0 / per_minute
        self.clock, self.sleep = clock, sleep
        self.requests = 0
        self._next_at = 0.0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next_at:
                self.sleep(self._next_at - now)
                now = self._next_at
            self._next_at = now + self.interval_s
            self.requests += 1


def make_client(
    *, project: str, pacer: RequestPacer, api_endpoint: str | None, anonymous: bool
) -> Any:
    """The official client on the HTTP/JSON transport, every request paced by `pacer`.
    Application Default Credentials unless `anonymous` (for private endpoints and tests)."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import logging as cloud_logging

    if anonymous:
        credentials: Any = AnonymousCredentials()
    else:
        try:
            credentials, _ = google.auth.default(
                scopes=["https://www.googleapis.com/auth/logging.read"]
            )
        except DefaultCredentialsError as exc:
            raise AnalyzerError(
                "no Application Default Credentials: run `gcloud auth application-default "
                "login`, or give --anonymous with --api-endpoint for a private endpoint"
            ) from exc

    class PacedSession(AuthorizedSession):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            pacer.wait_turn()
            return super().request(*args, **kwargs)

    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return cloud_logging.Client(
        project=project,
        credentials=credentials,
        _http=PacedSession(credentials),
        _use_grpc=False,
        client_options=options,
    )


def classify(exc: BaseException) -> tuple[bool, str]:
    """(retryable, a one-line description) for an error from the client."""
    from google.api_core import exceptions as api
    from requests import exceptions as http

    if isinstance(exc, api.GoogleAPICallError):
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", "") or str(exc)
        text = f"{code} {type(exc).__name__}: {message}".strip()
        if code in RETRYABLE_STATUS or isinstance(exc, api.DeadlineExceeded):
            return True, text
        return False, _explain(code, text)
    if isinstance(exc, http.ConnectionError | http.Timeout):
        return True, f"{type(exc).__name__}: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def _explain(code: int | None, text: str) -> str:
    hints = {
        400: "the filter or a parameter is invalid",
        401: "the credentials were refused",
        403: "permission denied: the account needs roles/logging.viewer on the project",
        404: "unknown project (or endpoint)",
    }
    return f"{hints[code]} ({text})" if code in hints else text
