"""Recommendation history: each run appended to the store, read back week by week."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pydantic import ValidationError

from analyzer.errors import AnalyzerError, NoDataError
from analyzer.lake.store import Store, check_env_name
from analyzer.recommend.model import Recommendation


def _env_dir(store: Store, env: str) -> Path:
    return store.recommendations_dir / f"env={check_env_name(env)}"


def append_recommendation(store: Store, recommendation: Recommendation) -> Path:
    """Write the run as one JSON file, atomically (temporary name, then rename)."""
    folder = _env_dir(store, recommendation.env)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = recommendation.generated_at.strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"rec_{stamp}_{uuid.uuid4().hex[:8]}.json"
    temporary = folder / f".{target.name}.tmp"
    temporary.write_text(recommendation.model_dump_json(indent=2), encoding="utf-8")
    os.replace(temporary, target)
    return target


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
