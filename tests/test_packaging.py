"""The wheel carries the SQL of queries/, so an installed `analyze` finds its views."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_queries(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("analyzer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in (ROOT / "queries").glob("*.sql"):
        assert f"analyzer/queries/{sql.name}" in names
    assert "analyzer/cli/__init__.py" in names
    assert "analyzer/runtime/__init__.py" in names
