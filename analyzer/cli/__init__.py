"""The `analyze` command line: thin click commands over the library, each command's text
formatting beside it."""

from analyzer.cli import (
    backtest,
    bigquery,
    capacity,
    config,
    deploy,
    fleet,
    ingest,
    recommend,
    report,
    samples,
    summary,
)
from analyzer.cli.main import main

__all__ = [
    "backtest",
    "bigquery",
    "capacity",
    "config",
    "deploy",
    "fleet",
    "ingest",
    "main",
    "recommend",
    "report",
    "samples",
    "summary",
]
