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
    RequestPacer,
    build_filter,
    classify,
    make_client,
    rfc3339,
)
from analyzer.lake.store import Store, check_env_name
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


def checkpoint_path(store: Store, request: CollectRequest) -> Path:
    """One checkpoint per (env, project, filter), inside the store."""
    key = json.dumps([request.env, request.project, request.service, request.extra_filter])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return store.root / "checkpoints" / f"collect_{digest}.json"


def read_checkpoint(path: Path) -> datetime | None:
    try:
        return parse_instant(json.loads(path.read_text(encoding="utf-8"))["until"])
    except (OSError, ValueError, KeyError, TypeError, AnalyzerError):
        return None


def write_checkpoint(path: Path, request: CollectRequest, until: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(
        json.dumps(
            {
                "env": request.env,
                "project": request.project,
                "service": request.service,
                "filter": request.extra_filter,
                "until": rfc3339(until),
                "written_at": rfc3339(datetime.now(UTC)),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    os.replace(temporary, path)


def resolve_window(
    store: Store, request: CollectRequest, now: datetime
) -> tuple[datetime, datetime]:
    """`--since`/`--until` when given; else from the checkpoint (less a small overlap), or
    `DEFAULT_LOOKBACK` back, to now."""
    until = parse_instant(request.until) if request.until else now
    if request.since:
        return window_start(request.since, until), until
    checkpoint = read_checkpoint(checkpoint_path(store, request))
    return (checkpoint - OVERLAP if checkpoint else until - DEFAULT_LOOKBACK), until


def entry_to_json(entry: Any) -> dict[str, Any]:
    """The LogEntry's API form (camelCase JSON), as the importer reads it."""
    document: dict[str, Any] = entry.to_api_repr()
    received = getattr(entry, "received_timestamp", None)
    if received is not None:
        document["receiveTimestamp"] = rfc3339(received)
    return document


class _Run:
    """One collect run: the buffer, the flushes, the retry count."""

    def __init__(self, store: Store, request: CollectRequest, result: CollectResult) -> None:
        self.store, self.request, self.result = store, request, result
        self.buffer: list[dict[str, Any]] = []
        self.flushed_at = time.monotonic()
        self.cursor = result.since
        self.checkpoint = checkpoint_path(store, request)

    def add(self, entry: dict[str, Any]) -> None:
        self.buffer.append(entry)
        self.result.fetched += 1
        if len(self.buffer) >= FLUSH_ENTRIES or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Store what is buffered through the import pipeline, then move the checkpoint."""
        self.flushed_at = time.monotonic()
        if not self.buffer:
            return
        path = self.store.tmp_dir / f"collect-{uuid.uuid4().hex}.jsonl"
        with path.open("w", encoding="utf-8") as stream:
            for entry in self.buffer:
                stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
        stored = import_files_locked(
            [path],
            env=self.request.env,
            store=self.store,
            source_name=f"cloud-logging:projects/{self.request.project}",
        )
        path.unlink()
        self.result.stored.add(stored)
        newest = max(parse_instant(e["timestamp"]) for e in self.buffer if e.get("timestamp"))
        self.cursor = max(self.cursor, newest)
        write_checkpoint(self.checkpoint, self.request, self.cursor)
        self.result.checkpoint = self.cursor
        self.buffer.clear()


def collect(
    request: CollectRequest,
    *,
    store: Store,
    on_progress: Callable[[CollectProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> CollectResult:
    """Fetch the window's startup telemetry and store it; see `analyze collect --help`."""
    from google.cloud.logging import ASCENDING

    check_env_name(request.env)
    since, until = resolve_window(store, request, now or datetime.now(UTC))
    result = CollectResult(since=since, until=until)
    if since >= until:
        return result
    pacer = RequestPacer(request.requests_per_minute, sleep=sleep)
    client = make_client(
        project=request.project,
        pacer=pacer,
        api_endpoint=request.api_endpoint,
        anonymous=request.anonymous,
    )
    started = time.monotonic()
    in_a_row = 0
    with store.writer_lock():
        run = _Run(store, request, result)
        while True:
            query = build_filter(
                since=run.cursor, until=until, service=request.service, extra=request.extra_filter
            )
            try:
                for entry in client.list_entries(
                    resource_names=[f"projects/{request.project}"],
                    filter_=query,
                    order_by=ASCENDING,
                    page_size=ENTRIES_PER_PAGE,
                ):
                    run.add(entry_to_json(entry))
                    in_a_row = 0
                    if on_progress and result.fetched % ENTRIES_PER_PAGE == 0:
                        on_progress(_progress(result, pacer, run.cursor, started))
                run.flush()
                break
            except Exception as exc:
                retryable, text = classify(exc)
                run.flush()
                result.requests = pacer.requests
                if not retryable:
                    raise AnalyzerError(_stopped(text, result, request)) from exc
                in_a_row += 1
                if in_a_row > request.max_retries:
                    raise AnalyzerError(
                        _stopped(
                            f"gave up after {request.max_retries} retries in a row ({text})",
                            result,
                            request,
                        )
                    ) from exc
                result.retries += 1
                wait = request.backoff_base_s * 2 ** (in_a_row - 1)
                sleep(random.uniform(wait / 2, wait))
        write_checkpoint(run.checkpoint, request, until)
        result.checkpoint = until
    result.requests = pacer.requests
    if on_progress:
        on_progress(_progress(result, pacer, until, started))
    return result


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


def _stopped(reason: str, result: CollectResult, request: CollectRequest) -> str:
    if not result.stored.read:
        return f"{reason}; nothing was stored"
    return (
        f"{reason}; saved {result.stored.stored:,} new entries up to "
        f"{rfc3339(result.checkpoint or result.since)}; run the same command again to resume "
        "from there"
    )
