"""The notebooks run clean on the sample data, and are committed without outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_clean(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("analyzer-notebook-*"))
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors == []
    tables = [
        o["data"]["text/plain"]
        for c in notebook.cells
        if c.cell_type == "code" and "pl.DataFrame(" in c.source
        for o in c.outputs
        if "text/plain" in o.get("data", {}) and o["data"]["text/plain"].startswith("shape:")
    ]
    assert tables, "the notebook shows its tables"
    for shown in tables:  # every row shown, none of another operation or never attempted
        assert "…" not in shown and "connection" not in shown and "pool_checkout" not in shown
    assert all("pressure" in shown for shown in tables)
    assert all("critical" in shown for shown in tables[:2])  # the two key tables
    assert set(scratch.glob("analyzer-notebook-*")) == before, "the notebook left its store behind"
    assert any(
        "image/svg+xml" in o.get("data", {})
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_there_is_at_least_one() -> None:
    assert NOTEBOOKS
