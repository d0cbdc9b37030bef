"""`analyze collect`: pull startup telemetry from Cloud Logging into the lake, incrementally,
within the API's quota, flushing as it goes so nothing fetched is lost."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.ingest import ImportResult, import_files_locked
from analyzer.ingest.cloud_logging import (
    ENTRIES_PER_PAGE,
    RequestLimits,
    RequestPacer,
    RunTimeLimit,
    build_filter,
    classify,
    list_entry_pages,
    make_client,
    rfc3339,
)
from analyzer.lake.store import Store, check_env_name
from analyzer.lake.verify import naming_damaged_segments
from analyzer.timewindow import parse_instant, window_start

OVERLAP = timedelta(minutes=5)  # late arrivals near the checkpoint; duplicates cost nothing
DEFAULT_LOOKBACK = timedelta(days=7)
FLUSH_ENTRIES = 5 * ENTRIES_PER_PAGE
FLUSH_SECONDS = 30.0


@dataclass(frozen=True)
class CollectRequest:
    env: str
    project: str
    service: str | None = None
    extra_filter: str | None = None
    since: str | None = None
    until: str | None = None
    api_endpoint: str | None = None
    anonymous: bool = False
    requests_per_minute: float = 60.0
    backoff_base_s: float = 1.0
    max_retries: int = 5
    limits: RequestLimits = field(default_factory=RequestLimits)
    max_run_s: float = 3600.0  # the whole run; it stops resumably past this


@dataclass
class CollectResult:
    since: datetime
    until: datetime
    fetched: int = 0
    requests: int = 0
    retries: int = 0
    stored: ImportResult = field(default_factory=ImportResult)
    checkpoint: datetime | None = None

    def summary_line(self) -> str:
        s = self.stored
        return (
            f"collected {self.fetched:,} entries in {self.requests:,} requests "
            f"({self.retries} retries) from {rfc3339(self.since)} to {rfc3339(self.until)}: "
            f"stored {s.stored:,}, duplicates {s.duplicates:,}, skipped {s.skipped:,} "
            f"(not telemetry), quarantined {s.quarantined:,}"
        )


@dataclass(frozen=True)
class CollectProgress:
    fetched: int
    requests: int
    retries: int
    covered: float  # share of the window behind the newest entry fetched
    entries_per_s: float


@dataclass(frozen=True)
class Leg:
    """One listing of one window: `page_token` is where it resumes (None: from its start)."""

    since: datetime
    until: datetime
    page_token: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """`until`: the end of the last window listed to its last page. `partial`: a window
    listed part-way, and the token of its first page not stored yet. Entries in one window
    come in pages whose order the client cannot check, so only a page token (or a whole
    window) tells what is stored; no timestamp does."""

    until: datetime | None = None
    partial: Leg | None = None


def checkpoint_path(store: Store, request: CollectRequest) -> Path:
    """One checkpoint per (env, project, filter), inside the store."""
    key = json.dumps([request.env, request.project, request.service, request.extra_filter])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return store.root / "checkpoints" / f"collect_{digest}.json"


def read_checkpoint(path: Path) -> Checkpoint:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Checkpoint()
    if not isinstance(document, dict):
        return Checkpoint()
    return Checkpoint(until=_instant(document.get("until")), partial=_leg(document.get("partial")))


def _leg(document: object) -> Leg | None:
    if not isinstance(document, dict):
        return None
    since, until = _instant(document.get("since")), _instant(document.get("until"))
    token = document.get("page_token")
    if since is None or until is None or not isinstance(token, str | None):
        return None
    return Leg(since, until, token)


def _instant(value: object) -> datetime | None:
    try:
        return parse_instant(value) if isinstance(value, str) else None
    except (ValueError, AnalyzerError):
        return None


def write_checkpoint(path: Path, request: CollectRequest, checkpoint: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    document: dict[str, Any] = {
        "env": request.env,
        "project": request.project,
        "service": request.service,
        "filter": request.extra_filter,
        "until": rfc3339(checkpoint.until) if checkpoint.until else None,
        "written_at": rfc3339(datetime.now(UTC)),
    }
    if checkpoint.partial:
        leg = checkpoint.partial
        document["partial"] = {
            "since": rfc3339(leg.since),
            "until": rfc3339(leg.until),
            "page_token": leg.page_token,
        }
    temporary.write_text(json.dumps(document, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def plan_legs(
    request: CollectRequest, checkpoint: Checkpoint, now: datetime
) -> tuple[datetime, datetime, list[Leg]]:
    """The run's window and the listings that cover it. `--since`/`--until` when given (a
    window listed part-way before with the same bounds resumes at its page token); else a
    window listed part-way is finished first, then from its end (less a small overlap), or
    from the checkpoint, or `DEFAULT_LOOKBACK` back, to now."""
    until = parse_instant(request.until) if request.until else now
    partial = checkpoint.partial
    if request.since:
        since = window_start(request.since, until)
        if partial and (partial.since, partial.until) == (since, until):
            return since, until, [partial]
        return since, until, [Leg(since, until)]
    if partial:
        legs = [partial]
        if until > partial.until:
            legs.append(Leg(partial.until - OVERLAP, until))
        return partial.since, max(until, partial.until), legs
    since = checkpoint.until - OVERLAP if checkpoint.until else until - DEFAULT_LOOKBACK
    return since, until, [Leg(since, until)]


class _Run:
    """One collect run: the buffer, the flushes, the checkpoint."""

    def __init__(
        self, store: Store, request: CollectRequest, result: CollectResult, committed: Checkpoint
    ) -> None:
        self.store, self.request, self.result = store, request, result
        self.buffer: list[Any] = []
        self.flushed_at = time.monotonic()
        self.newest: datetime | None = None
        self.path = checkpoint_path(store, request)
        self.committed = committed.until
        self.leg = Leg(result.since, result.until)
        self.token: str | None = None

    def start(self, leg: Leg) -> None:
        self.leg, self.token = leg, leg.page_token

    def add_page(self, entries: list[Any], next_token: str | None) -> None:
        """A whole page, and the token of the page after it."""
        self.buffer.extend(entries)
        self.result.fetched += len(entries)
        for entry in entries:
            ts = _instant(entry.get("timestamp")) if isinstance(entry, dict) else None
            if ts is not None and (self.newest is None or ts > self.newest):
                self.newest = ts
        self.token = next_token
        if len(self.buffer) >= FLUSH_ENTRIES or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Store what is buffered (whole pages) through the import pipeline, then record the
        token of the first page not stored."""
        self.flushed_at = time.monotonic()
        if self.buffer:
            path = self.store.tmp_dir / f"collect-{uuid.uuid4().hex}.jsonl"
            with path.open("w", encoding="utf-8") as stream:
                for entry in self.buffer:
                    stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
            with naming_damaged_segments(self.store):
                stored = import_files_locked(
                    [path],
                    env=self.request.env,
                    store=self.store,
                    source_name=f"cloud-logging:projects/{self.request.project}",
                )
            path.unlink()
            self.result.stored.add(stored)
            self.buffer.clear()
        if self.token is not None:
            partial = Leg(self.leg.since, self.leg.until, self.token)
            write_checkpoint(self.path, self.request, Checkpoint(self.committed, partial))

    def finish_leg(self) -> None:
        self.flush()
        self.committed = max(self.committed or self.leg.until, self.leg.until)
        write_checkpoint(self.path, self.request, Checkpoint(self.committed))
        self.result.checkpoint = self.committed


def collect(
    request: CollectRequest,
    *,
    store: Store,
    on_progress: Callable[[CollectProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> CollectResult:
    """Fetch the window's startup telemetry and store it; see `analyze collect --help`."""
    check_env_name(request.env)
    committed = read_checkpoint(checkpoint_path(store, request))
    since, until, legs = plan_legs(request, committed, now or datetime.now(UTC))
    result = CollectResult(since=since, until=until, checkpoint=committed.until)
    legs = [leg for leg in legs if leg.since < leg.until]
    if not legs:
        return result
    pacer = RequestPacer(request.requests_per_minute, sleep=sleep)
    started = time.monotonic()
    client = make_client(
        project=request.project,
        pacer=pacer,
        api_endpoint=request.api_endpoint,
        anonymous=request.anonymous,
        limits=request.limits,
        run_limit=(started + request.max_run_s, request.max_run_s),
    )
    with store.writer_lock():
        run = _Run(store, request, result, committed)
        for leg in legs:
            run.start(leg)
            _list_leg(run, client, pacer, started, on_progress, sleep)
            run.finish_leg()
    result.requests = pacer.requests
    if on_progress:
        on_progress(_progress(result, pacer, until, started))
    return result


def _list_leg(
    run: _Run,
    client: Any,
    pacer: RequestPacer,
    started: float,
    on_progress: Callable[[CollectProgress], None] | None,
    sleep: Callable[[float], None],
) -> None:
    """Every page of the run's current leg, resuming at the last page token after an error."""
    request, result = run.request, run.result
    query = build_filter(
        since=run.leg.since,
        until=run.leg.until,
        service=request.service,
        extra=request.extra_filter,
    )
    seen_tokens: set[str] = set()
    in_a_row = 0
    saved_token = run.token  # from an earlier run; the API may have forgotten it since
    while True:
        pages = list_entry_pages(
            client, project=request.project, filter_=query, page_token=run.token
        )
        try:
            for page in pages.pages:
                token = pages.next_page_token
                if token is not None and token in seen_tokens:
                    raise PageTokenLoop(token)
                if token is not None:
                    seen_tokens.add(token)
                run.add_page(list(page), token)
                in_a_row = 0
                if on_progress:
                    on_progress(_progress(result, pacer, run.newest or run.leg.since, started))
                if time.monotonic() - started > request.max_run_s:
                    raise RunTimeLimit(request.max_run_s)
            return
        except AnalyzerError:
            raise  # from storing a page: already says what is wrong, and with which file
        except Exception as exc:
            run.flush()
            result.requests = pacer.requests
            if isinstance(exc, PageTokenLoop | RunTimeLimit):
                raise AnalyzerError(_stopped(str(exc), result)) from exc
            retryable, text = classify(exc)
            if saved_token is not None and run.token == saved_token and _refused_request(exc):
                run.token = saved_token = None  # the listing again from the window's start
                continue
            if not retryable:
                raise AnalyzerError(_stopped(text, result)) from exc
            in_a_row += 1
            if in_a_row > request.max_retries:
                raise AnalyzerError(
                    _stopped(
                        f"gave up after {request.max_retries} retries in a row ({text})", result
                    )
                ) from exc
            wait = random.uniform(0.5, 1.0) * request.backoff_base_s * 2 ** (in_a_row - 1)
            if time.monotonic() + wait > started + request.max_run_s:
                limit = RunTimeLimit(request.max_run_s)
                raise AnalyzerError(
                    _stopped(f"{limit}, before a retry after {text}", result)
                ) from exc
            result.retries += 1
            sleep(wait)


def _refused_request(exc: BaseException) -> bool:
    from google.api_core import exceptions as api

    return isinstance(exc, api.BadRequest)


class PageTokenLoop(Exception):
    def __init__(self, token: str) -> None:
        shown = token if len(token) <= 40 else token[:37] + "..."
        super().__init__(f"the API sent the page token {shown!r} a second time (a paging loop)")


def _progress(
    result: CollectResult, pacer: RequestPacer, cursor: datetime, started: float
) -> CollectProgress:
    span = (result.until - result.since).total_seconds()
    covered = (cursor - result.since).total_seconds() / span if span > 0 else 1.0
    elapsed = max(time.monotonic() - started, 1e-9)
    return CollectProgress(
        result.fetched,
        pacer.requests,
        result.retries,
        min(max(covered, 0.0), 1.0),
        result.fetched / elapsed,
    )


def _stopped(reason: str, result: CollectResult) -> str:
    if not result.stored.read:
        return f"{reason}; nothing was stored"
    return (
        f"{reason}; saved {result.stored.stored:,} new entries ({result.stored.read:,} read); "
        "run the same command again to resume where this run stopped"
    )
