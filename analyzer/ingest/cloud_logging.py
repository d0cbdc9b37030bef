"""The Cloud Logging side of `collect`: the official client, the filter, request pacing, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analyzer.errors import AnalyzerError

ENTRIES_PER_PAGE = 1000
# The text lines of docs/telemetry.md §3 all start with one of these.
TEXT_PREFIXES = ("SMD ", "VPC connector", "Database circuit breaker", "Database fallback applied")
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
BODY_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class RequestLimits:
    """How long one entries.list request may take: to connect, between two reads of its
    answer, and in all (a server that drips a byte at a time never trips the read timeout)."""

    connect_s: float = 10.0
    read_s: float = 30.0
    request_s: float = 120.0
    # An answer's size once inflated: a page of 1,000 entries is some 1-2 MB of startup
    # telemetry; a gzip answer that inflates to gigabytes would end the run out of memory.
    answer_bytes: int = 100 * 2**20


class AnswerNotJson(Exception):
    """The endpoint answered with success but not with JSON (a proxy's or a login page)."""


class AnswerTooLarge(Exception):
    """An answer passed `RequestLimits.answer_bytes` as it was read (not retried)."""


class RunTimeLimit(Exception):
    """The run's time limit came before a request could end (or before the next one)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"stopped at the run's time limit of {limit_s:g} s (--max-run-s)")


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

    def wait_turn(self, *, by: float = float("inf")) -> bool:
        """Wait for the next request's turn; False, without waiting, if it comes after `by`."""
        with self._lock:
            now = self.clock()
            if max(now, self._next_at) > by:
                return False
            if now < self._next_at:
                self.sleep(self._next_at - now)
                now = self._next_at
            self._next_at = now + self.interval_s
            self.requests += 1
            return True


def make_client(
    *,
    project: str,
    pacer: RequestPacer,
    api_endpoint: str | None,
    anonymous: bool,
    limits: RequestLimits | None = None,
    run_limit: tuple[float, float] | None = None,
) -> Any:
    """The official client on the HTTP/JSON transport, every request paced by `pacer` and held
    to `limits`, and to the run's limit (its `time.monotonic()` end, and its length in seconds
    to name it): no request is sent, nor read, past it (`RunTimeLimit`). Application Default
    Credentials unless `anonymous` (for private endpoints and tests)."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport import DEFAULT_REFRESH_STATUS_CODES
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import logging as cloud_logging

    bounds = limits or RequestLimits()
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

    run_ends, run_s = run_limit or (float("inf"), float("inf"))

    class PacedSession(AuthorizedSession):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            if not pacer.wait_turn(by=run_ends):
                raise RunTimeLimit(run_s)
            left_s = run_ends - time.monotonic()
            if left_s <= 0:
                raise RunTimeLimit(run_s)
            deadline = time.monotonic() + min(bounds.request_s, left_s)
            kwargs["timeout"] = (min(bounds.connect_s, left_s), min(bounds.read_s, left_s))
            kwargs["stream"] = True
            try:
                response = super().request(*args, **kwargs)
                read_whole_answer(response, deadline=deadline, limits=bounds)
            except Exception:
                if time.monotonic() >= run_ends:
                    raise RunTimeLimit(run_s) from None
                raise
            return response

    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    # Anonymous credentials cannot be refreshed: a 401 is then the answer, not a refresh.
    refresh = () if anonymous else DEFAULT_REFRESH_STATUS_CODES
    return cloud_logging.Client(
        project=project,
        credentials=credentials,
        _http=PacedSession(credentials, refresh_status_codes=refresh),
        _use_grpc=False,
        client_options=options,
    )


def list_entry_pages(client: Any, *, project: str, filter_: str, page_token: str | None) -> Any:
    """entries.list page by page, ascending, from `page_token`: the client's own HTTP iterator
    (as `Client.list_entries` builds it), with each entry as the API sent it. The client's
    entry objects refuse entries that the importer quarantines (a timestamp with an offset, a
    `resource` that is not an object) and lose nothing the importer reads; its generator hides
    the page token a resumed listing needs."""
    from google.api_core import page_iterator
    from google.cloud.logging import ASCENDING

    pages = page_iterator.HTTPIterator(
        client=client,
        api_request=client._connection.api_request,
        path="/entries:list",
        item_to_value=lambda _iterator, entry: entry,
        items_key="entries",
        page_token=page_token,
        extra_params={
            "resourceNames": [f"projects/{project}"],
            "filter": filter_,
            "orderBy": ASCENDING,
            "pageSize": ENTRIES_PER_PAGE,
        },
    )
    pages._HTTP_METHOD = "POST"  # as the client sends it: a read-only POST
    return pages


def read_whole_answer(response: Any, *, deadline: float, limits: RequestLimits) -> None:
    """Read the body of a streamed `requests` response by `deadline`, as `response.content`,
    up to `limits.answer_bytes` inflated (`AnswerTooLarge` past it, not retried). A body cut
    short is a connection error (retried); a success that is not JSON is `AnswerNotJson` (not
    retried)."""
    from requests import exceptions as http
    from urllib3.exceptions import HTTPError as Urllib3Error

    if response._content_consumed:  # read already: a request retried after a refresh
        return
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() > deadline:
                response.close()
                raise http.ReadTimeout(f"no whole answer within {limits.request_s:g} s")
            chunk = response.raw.read1(BODY_CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > limits.answer_bytes:
                response.close()
                raise AnswerTooLarge(
                    f"answer too large: the endpoint's answer passed {limits.answer_bytes:,} "
                    "bytes (--max-answer-size) as it was read, inflated"
                )
            chunks.append(chunk)
    except Urllib3Error as exc:
        response.close()
        raise http.ConnectionError(f"the connection was cut mid-answer ({exc})") from exc
    response._content = b"".join(chunks)
    response._content_consumed = True
    kind = response.headers.get("Content-Type", "")
    if 200 <= response.status_code < 300 and response._content and "json" not in kind:
        start = response._content[:60].decode("utf-8", "replace").split()
        raise AnswerNotJson(
            f"the endpoint answered {response.status_code} with {kind or 'no content type'}, "
            f"not JSON ({' '.join(start)!r}...): is --api-endpoint a Cloud Logging API?"
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
    from google.auth import exceptions as auth

    if isinstance(exc, http.ConnectionError | http.Timeout | http.ChunkedEncodingError):
        return True, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, AnswerNotJson | AnswerTooLarge):
        return False, str(exc)
    if isinstance(exc, http.JSONDecodeError):
        return False, f"the endpoint's answer is not valid JSON ({exc})"
    if isinstance(exc, auth.GoogleAuthError):
        return False, (
            f"the credentials could not be used ({exc}); run `gcloud auth application-default "
            "login`, or give --anonymous for an endpoint that needs no credentials"
        )
    return False, f"{type(exc).__name__}: {exc}"


def _explain(code: int | None, text: str) -> str:
    hints = {
        400: "the filter or a parameter is invalid",
        401: "the credentials were refused (run `gcloud auth application-default login`; "
        "with --anonymous the endpoint must accept requests without credentials)",
        403: "permission denied: the account needs roles/logging.viewer on the project",
        404: "unknown project (or endpoint)",
    }
    return f"{hints[code]} ({text})" if code in hints else text
