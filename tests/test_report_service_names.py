"""`report` over services whose names no config section can have: the page shows every
service it can, names those it cannot (escaped, cut), and the command succeeds."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from analyzer.cli import main
from analyzer.lake.store import Store
from tests.conftest import relabelled_sample

# Each takes a share of the sample's auth service, by instance (a startup stays whole).
UNFIT = ["Netra-Auth-Staging", "auth\nstaging", "a" * 10_000, "<script>alert(1)</script>"]
KEPT = "netra-backend-staging"


def _lake(folder: Path) -> Store:
    """The sample's last week, its auth service renamed into the names of UNFIT."""

    def renamed(entry: dict[str, Any]) -> str | None:
        if entry["resource"]["labels"]["service_name"] != "netra-auth-staging":
            return None
        return UNFIT[zlib.crc32(entry["labels"]["instanceId"].encode()) % len(UNFIT)]

    return relabelled_sample(folder, renamed, since="2026-11-16")


def test_names_no_config_can_hold_do_not_take_the_report_down(tmp_path: Path) -> None:
    store = _lake(tmp_path)
    out = tmp_path / "report.html"
    args = ["report", "--env", "staging", "--store", str(store.root), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--since", "7d"])
    assert result.exit_code == 0, result.output
    assert "4 service(s) cannot have a config section" in result.stderr
    assert "'Netra-Auth-Staging'" in result.stderr and "'auth\\nstaging'" in result.stderr
    page = out.read_text()
    assert f"<h3 id='service-{KEPT}'>{KEPT}</h3>" in page
    assert page.count("<h3 ") == 1 + len(UNFIT)  # every service has its block
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    unfit = page[page.index("id='unfit-services'") :]
    unfit = unfit[: unfit.index("</ul>")]
    assert unfit.count("<li>") == len(UNFIT)
    headings = re.findall(r"<h3 [^>]*>.*?</h3>", page, re.DOTALL)
    for shown in (unfit, *headings):  # each name as a message shows it: quoted, cut, one line
        assert "a" * 1_000 not in shown and "auth\nstaging" not in shown
    assert "auth\\nstaging" in unfit
