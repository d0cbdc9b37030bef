"""The docs' examples run: every block marked to run in README.md and docs/ runs on the bundled
sample, and no link in them points outside the repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A fenced block preceded by this comment is run: `run` runs a shell block's commands, a
# python block's code, or writes a toml block as ./analyzer.toml and shows its config for each
# env; `check` only checks a toml block as a project file. The comment does not show on the site.
MARKER = re.compile(r"<!-- example: (\w+) -->\n")
BLOCK = re.compile(r"<!-- example: (run|check) -->\n```(sh|toml|python)\n(.*?)\n```\n", re.S)


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    mode: str
    language: str
    text: str


def examples(page: Path) -> list[Example]:
    """The page's marked examples, but those an earlier page holds already (the quickstart)."""
    earlier = {e.text for p in PAGES[: PAGES.index(page)] for e in marked(p)}
    return [e for e in marked(page) if e.text not in earlier]


def marked(page: Path) -> list[Example]:
    text = page.read_text()
    found = [
        Example(page, text.count("\n", 0, m.start()) + 2, m[1], m[2], m[3])
        for m in BLOCK.finditer(text)
    ]
    # a marker that does not introduce a block this test reads would silently run nothing
    assert len(MARKER.findall(text)) == len(found), f"{page.name}: a marker without its block"
    return found


def commands(block: str) -> list[list[str]]:
    """Each command line of a shell block, its `uv run` and comments dropped."""
    lines = block.replace("\\\n", " ").splitlines()
    argvs = [shlex.split(line, comments=True) for line in lines]
    argvs = [argv[2:] if argv[:2] == ["uv", "run"] else argv for argv in argvs if argv]
    for argv in argvs:
        assert argv[0] == "analyze", f"not an analyze command: {shlex.join(argv)}"
    return [argv[1:] for argv in argvs]


@pytest.fixture
def workdir(sample_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder as a user has it: the sample imported in ./data/lake (the default store), the
    sample's exports in ./data/sample and its staging exports in ./exports."""
    shutil.copytree(sample_lake, tmp_path / "data" / "lake")
    (tmp_path / "data" / "sample").symlink_to(ROOT / "data" / "sample")
    (tmp_path / "exports").symlink_to(ROOT / "data" / "sample" / "staging")
    for name in ("ANALYZER_STORE", "ANALYZER_PROJECT_FILE", "ANALYZER_TIMEOUT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(args: list[str], where: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{where}: analyze {shlex.join(args)}\n{result.output}"


def envs_of(project_file: str) -> list[str]:
    return sorted(tomllib.loads(project_file).get("env", {}))


def run(example: Example, folder: Path) -> None:
    where = f"{example.page.relative_to(ROOT)}:{example.line}"
    if example.language == "sh":
        for args in commands(example.text):
            invoke(args, where)
    elif example.language == "python":
        exec(compile(example.text, where, "exec"), {})
    elif example.mode == "run":
        (folder / "analyzer.toml").write_text(example.text)
        for env in envs_of(example.text):
            invoke(["config", "show", "--env", env], where)
    else:
        checked = folder / "checked.toml"
        checked.write_text(example.text)
        for env in envs_of(example.text):
            invoke(["--project-file", str(checked), "config", "show", "--env", env], where)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.name)
def test_the_pages_examples_run_on_the_sample(page: Path, workdir: Path) -> None:
    """A page's examples run in order in one folder, as a reader would type them."""
    for example in examples(page):
        run(example, workdir)


def test_the_quickstart_and_the_project_file_are_run() -> None:
    marked = {(e.page.name, e.language) for p in PAGES for e in examples(p)}
    assert {("README.md", "sh"), ("README.md", "toml"), ("project-file.md", "toml")} <= marked


OUTSIDE = ("../" + "shared", "/work/" + "shared")  # where the project's design notes lived
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_no_link_or_path_points_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".lock", ".gz", ".png", ".parquet"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        assert not any(outside in text for outside in OUTSIDE), name
        if path.suffix != ".md":
            continue
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            linked = (path.parent / target.split("#")[0]).resolve()
            assert linked.is_relative_to(ROOT), f"{name}: {target} is outside the repository"
            assert linked.exists(), f"{name}: {target} does not exist"


def test_the_contract_page_names_every_event_and_every_lake_column() -> None:
    from analyzer.runtime.telemetry import EVENTS

    page = (ROOT / "docs" / "telemetry.md").read_text()
    schema = (ROOT / "queries" / "lake_schema.sql").read_text()
    columns = re.findall(r"\bAS (\w+),?$", schema, re.M)
    assert len(columns) > 20
    for name in [*EVENTS, *columns]:
        assert f"`{name}`" in page, f"docs/telemetry.md does not name `{name}`"


def test_the_site_builds_strictly_with_the_generated_command_reference(tmp_path: Path) -> None:
    """What CI builds (.ci/run): a broken link, a page left out of the nav or a reference that
    cannot be generated fails here too, not only in CI."""
    import sys

    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for command in ("analyze import", "analyze recommend", "analyze config show"):
        assert command in reference
    assert "Sentinel" not in reference
