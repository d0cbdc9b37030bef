"""Recommendation history: each run appended to the store, read back week by week."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from analyzer.errors import AnalyzerError, NoDataError
from analyzer.lake.store import Store, check_env_name
from analyzer.recommend.model import Recommendation


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
    target = folder / f"rec_{stamp}_{uuid.uuid4().hex[:8]}.json"
    temporary = folder / f".{target.name}.tmp"
    with _named_write_errors(folder):
        try:
            temporary.write_text(recommendation.model_dump_json(indent=2), encoding="utf-8")
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
    """Every stored recommendation for `env`, oldest first."""
    folder = _env_dir(store, env)
    runs = []
    for path in sorted(folder.glob("rec_*.json")) if folder.is_dir() else []:
        try:
            runs.append(Recommendation.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValidationError) as exc:
            raise AnalyzerError(f"{path}: not a readable recommendation ({exc})") from exc
    return sorted(runs, key=lambda r: r.generated_at)


def required_history(store: Store, env: str) -> list[Recommendation]:
    """The history, or a clear error (no data) saying how to start one."""
    runs = load_history(store, env)
    if not runs:
        raise NoDataError(
            f"no recommendation for env {env!r} in store {store.root} yet"
            f"{store.other_envs_hint(env)}; "
            f"run `analyze recommend --env {env}` first"
        )
    return runs


def latest_recommendation(store: Store, env: str) -> Recommendation:
    return required_history(store, env)[-1]
