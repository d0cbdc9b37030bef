"""`analyze export`: the latest recommendation as a config file deployments ship."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.deploy.model import config_from_recommendation, render_config
from analyzer.lake.store import Store
from analyzer.recommend.history import latest_recommendation


def export_config(*, store: Store, env: str, out: Path, fmt: str = "json") -> Path:
    """Write the env's latest recommendation to `out` (atomically) as json, yaml or env lines."""
    config = config_from_recommendation(latest_recommendation(store, env))
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(render_config(config, fmt), encoding="utf-8")
    os.replace(temporary, out)
    return out
