"""Recommendation history: the runs saved to the store (each with a short id), read back and
chosen from. Only saved runs ship: `export`, `backtest` and `report` take them from here."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from analyzer.errors import AnalyzerError, NoDataError
from analyzer.lake.store import Store, check_env_name
from analyzer.recommend.model import Recommendation, check_services

_RUN_FILE = re.compile(r"^rec_\d{8}T\d{12}Z_([0-9a-f]{8})\.json$")


def _env_dir(store: Store, env: str) -> Path:
    return store.recommendations_dir / f"env={check_env_name(env)}"


def writable_history(store: Store, env: str) -> Path:
    """The env's history folder, made if need be, once it is shown to take a file: a run that
    could not be saved fails before its work, not after it."""
    folder = _env_dir(store, env)
    with _named_write_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    return folder


def append_recommendation(store: Store, recommendation: Recommendation) -> Path:
    """Write the run as one JSON file, atomically (temporary name, then rename)."""
    folder = writable_history(store, recommendation.env)
    stamp = recommendation.generated_at.strftime("%Y%m%dT%H%M%S%fZ")
    run_id = recommendation.run_id or uuid.uuid4().hex[:8]
    target = folder / f"rec_{stamp}_{run_id}.json"
    temporary = folder / f".{target.name}.tmp"
    text = recommendation.model_copy(update={"run_id": run_id}).model_dump_json(indent=2)
    try:  # a run that would not read back (a number JSON cannot hold) would poison history
        Recommendation.model_validate_json(text)
    except ValidationError as exc:
        raise AnalyzerError(
            f"run {run_id} not saved: it would not read back ({first_problem(exc)})"
        ) from exc
    with _named_write_errors(folder):
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _named_write_errors(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise AnalyzerError(
            f"{exc.filename or folder}: cannot write the recommendation history "
            f"({exc.strerror or exc}); make the store writable, or pass --no-history"
        ) from exc


def load_history(store: Store, env: str) -> list[Recommendation]:
    """Every saved recommendation for `env`, oldest first (a run from before ids were written
    takes the id in its file name). A file that does not read back is skipped with one warning
    naming it: one damaged run must not take the history, and every command on it, down."""
    folder = _env_dir(store, env)
    runs = []
    for path in sorted(folder.glob("rec_*.json")) if folder.is_dir() else []:
        try:
            run = read_run(path)
        except AnalyzerError as exc:
            print(f"warning: {exc}; skipped", file=sys.stderr, flush=True)
            continue
        named = _RUN_FILE.match(path.name)
        if not run.run_id and named:
            run = run.model_copy(update={"run_id": named.group(1)})
        runs.append(run)
    return sorted(runs, key=lambda r: r.generated_at)


def read_run(path: Path) -> Recommendation:
    """One saved run, or one line naming the file and its first problem."""
    try:
        if not path.is_file():  # a FIFO or a folder under a run's name is never opened
            raise AnalyzerError(f"{path}: not a readable recommendation (not a regular file)")
        return Recommendation.model_validate_json(path.read_bytes())
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise AnalyzerError(f"{path}: not a readable recommendation ({why})") from exc
    except ValidationError as exc:
        raise AnalyzerError(
            f"{path}: not a readable recommendation ({first_problem(exc)})"
        ) from exc


def first_problem(exc: ValidationError) -> str:
    """A validation error's first problem as one short line: where, and what."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])[:200]
    what = " ".join(str(first["msg"]).split())[:200]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {what}{more}" if where else f"{what}{more}"


def required_history(store: Store, env: str) -> list[Recommendation]:
    """The history, or a clear error (no data) saying how to start one."""
    runs = load_history(store, env)
    if not runs:
        raise NoDataError(
            f"no saved recommendation for env {env!r} in store {store.root} yet"
            f"{store.other_envs_hint(env)}; run `analyze recommend --env {env}` first (a run "
            "with --since, --until or policy options is saved only with --save)"
        )
    return runs


def runs_for_services(
    runs: list[Recommendation], services: tuple[str, ...]
) -> list[Recommendation]:
    """The runs with only the rows of `services` (each whole when none is given); a service
    none of them has rows for is one clear error naming those they have."""
    if services and runs:
        known = sorted({s for r in runs for s in r.services})
        check_services(services, known, f"the saved runs of env {runs[0].env!r}")
    return [r.only_services(services) for r in runs]


def latest_recommendation(store: Store, env: str) -> Recommendation:
    return required_history(store, env)[-1]


def chosen_run(store: Store, env: str, run_id: str | None = None) -> Recommendation:
    """The saved run with this id (a unique prefix will do), else the latest saved run."""
    runs = required_history(store, env)
    if run_id is None:
        return runs[-1]
    matches = [r for r in runs if r.run_id.startswith(run_id.strip().lower())]
    if len(matches) != 1:
        known = ", ".join(r.run_id for r in runs[-10:])
        what = "no saved run" if not matches else f"{len(matches)} saved runs"
        raise AnalyzerError(
            f"{what} with id {run_id!r} for env {env!r}; recent ids: {known} "
            f"(see `analyze history --env {env}`)"
        )
    return matches[0]


def describe_run(run: Recommendation) -> str:
    """One line naming a run: id, window, overrides, when it was made."""
    overrides = ", ".join(f"{k}={v}" for k, v in run.overrides.items()) if run.overrides else "none"
    return (
        f"run {run.run_id or '?'} (window {run.window.start:%Y-%m-%d %H:%M}Z to "
        f"{run.window.end:%Y-%m-%d %H:%M}Z, overrides: {overrides}, made "
        f"{run.generated_at:%Y-%m-%d %H:%M}Z)"
    )


def previous_values(run: Recommendation) -> dict[tuple[str | None, int, str, str], float]:
    """A run's values by service (None: env-wide) and key: what the next run carries over
    where evidence is thin."""
    return {
        (t.service, t.phase, t.operation, t.vpc_state): t.timeout_s
        for t in run.timeouts
        if t.timeout_s is not None
    }
