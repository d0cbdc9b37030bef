"""The package shows its pipeline: modules above the engine seam never touch an engine."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "analyzer"
# Above the seam: they ask `analyzer.engine` for relations by name and never learn who answered.
ABOVE_THE_SEAM = ("analysis", "recommend", "backtest", "report", "deploy", "runtime", "cli")
ENGINE_LIBRARIES = ("duckdb", "google.cloud.bigquery")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_module_above_the_seam_imports_an_engine() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for stage in ABOVE_THE_SEAM
        for path in sorted((PACKAGE / stage).rglob("*.py"))
        for name in _imports(path)
        if any(name == lib or name.startswith(lib + ".") for lib in ENGINE_LIBRARIES)
    ]
    assert not offenders, offenders
    assert all((PACKAGE / stage / "__init__.py").is_file() for stage in ABOVE_THE_SEAM)


def test_nothing_imports_the_cli_and_the_runtime_imports_only_itself() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = path.relative_to(PACKAGE).parts[0]
        imported = _imports(path)
        if stage != "cli":
            assert not any(n.startswith("analyzer.cli") for n in imported), path
        if stage == "runtime":
            outside = [
                n
                for n in imported
                if n.startswith("analyzer.") and not n.startswith("analyzer.runtime")
            ]
            assert not outside, (path, outside)


def test_every_module_sits_in_a_stage() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    # shared by every stage: the one error type, time windows; and the sample-data generators
    assert top == ["__init__.py", "errors.py", "simulate.py", "simulate_fleet.py", "timewindow.py"]
