"""Finds and reads the SQL files of `queries/`, in a source checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from analyzer.errors import AnalyzerError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # analyzer/


def queries_dir() -> Path:
    """The folder holding the SQL: inside the package when installed, else the checkout's."""
    for candidate in (_PACKAGE_DIR / "queries", _PACKAGE_DIR.parent / "queries"):
        if candidate.is_dir():
            return candidate
    raise AnalyzerError(f"the queries/ folder is missing (looked beside {_PACKAGE_DIR})")


@cache
def load_sql(name: str) -> str:
    """The text of `queries/<name>.sql`."""
    path = queries_dir() / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AnalyzerError(f"query {name!r} not found at {path}") from exc
