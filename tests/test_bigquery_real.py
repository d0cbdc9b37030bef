"""The smoke path against a real BigQuery project, opt-in: it runs only where Application
Default Credentials and ANALYZER_BQ_SOURCE (PROJECT.DATASET.TABLE: a sink table of the services'
stdout, or _AllLogs of a Log Analytics linked dataset) are set, and ANALYZER_BQ_ENV names an env
in it (default: production). It bills the bytes the dry runs print, held to 10 GiB a query.

    ANALYZER_BQ_SOURCE=my-project.logs.run_googleapis_com_stdout uv run pytest -m bigquery
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from analyzer.cli import main

pytestmark = pytest.mark.bigquery


def _credentials() -> bool:
    try:
        import google.auth

        google.auth.default()
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def source() -> str:
    value = os.environ.get("ANALYZER_BQ_SOURCE")
    if not value:
        pytest.skip("ANALYZER_BQ_SOURCE is not set (a real BigQuery table to read)")
    if not _credentials():
        pytest.skip("no Application Default Credentials (gcloud auth application-default login)")
    return value


def test_summary_and_recommend_against_the_real_service(source: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = os.environ.get("ANALYZER_BQ_ENV", "production")
    common = ["--env", env, "--engine", "bigquery", "--source", source, "--format", "json"]
    summary = CliRunner().invoke(main, ["summary", *common])
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.stdout)["events"] > 0
    assert "to scan" in summary.stderr
    rec = CliRunner().invoke(main, ["recommend", *common, "--store", str(tmp_path)])
    assert rec.exit_code == 0, rec.output
    assert json.loads(rec.stdout)["timeouts"]
