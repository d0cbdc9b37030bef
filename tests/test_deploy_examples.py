"""The scheduled-run examples under deploy/: the workflow's shape and its script on the sample."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "deploy" / "github" / "weekly-timeouts.yml"
SCRIPT = ROOT / "deploy" / "github" / "weekly.sh"
EXAMPLE_BODY = ROOT / "deploy" / "github" / "example-pr-body.md"
SAMPLE = ROOT / "data" / "sample" / "staging"
DEPLOYED = "deploy/staging/timeouts.json"

# A stand-in for GitHub's CLI only: it records each call and the body it was given, and keeps
# the one pull request's number so `gh pr list` finds it on the next run.
FAKE_GH = """#!/usr/bin/env bash
set -euo pipefail
state="$FAKE_GH_DIR"
echo "$*" >>"$state/calls.log"
body=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ ${args[i]} == --body-file ]]; then body=${args[i + 1]}; fi
done
case "$1 $2" in
    "pr list") [[ -f $state/pr-number ]] && cat "$state/pr-number"; exit 0 ;;
    "pr create")
        echo 7 >"$state/pr-number"
        cp "$body" "$state/body.md"
        echo "https://example.invalid/pull/7" ;;
    "pr edit") cp "$body" "$state/body.md" ;;
    *) echo "unexpected gh call: $*" >&2; exit 64 ;;
esac
"""


def check_workflow(path: Path) -> list[str]:
    """What a weekly-timeouts workflow must hold; an empty list when it holds all of it."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    problems = []
    triggers = doc.get(True) or doc.get("on") or {}  # YAML 1.1 reads the key `on` as True
    crons = [c.get("cron", "") for c in triggers.get("schedule") or []]
    if not crons or any(len(c.split()) != 5 for c in crons):
        problems.append(f"schedule: needs a weekly five-field cron, found {crons}")
    if "workflow_dispatch" not in triggers:
        problems.append("on: needs workflow_dispatch")
    permissions = doc.get("permissions") or {}
    for scope, level in (("contents", "write"), ("pull-requests", "write"), ("id-token", "write")):
        if permissions.get(scope) != level:
            problems.append(f"permissions.{scope}: needs {level}")
    steps = [s for job in (doc.get("jobs") or {}).values() for s in job.get("steps") or []]
    uses = [s["uses"] for s in steps if "uses" in s]
    for action in uses:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", action):
            problems.append(f"uses: {action!r} is not pinned by version")
    for needed in ("google-github-actions/auth", "actions/upload-artifact"):
        if not any(u.startswith(needed + "@") for u in uses):
            problems.append(f"steps: needs {needed}")
    if not any("deploy/github/weekly.sh" in s.get("run", "") for s in steps):
        problems.append("steps: the shell logic runs deploy/github/weekly.sh")
    installs = [s.get("run", "") for s in steps if "analyze" in s.get("name", "").lower()]
    if not any("uv sync" in r and "--locked" in r and "--no-dev" in r for r in installs):
        problems.append("steps: the analyzer is installed as uv.lock pins it (uv sync --locked)")
    return problems


def actionlint() -> str | None:
    found = shutil.which("actionlint") or Path(sys.executable).with_name("actionlint")
    return str(found) if Path(found).is_file() else None


def test_the_workflow_has_every_piece_and_a_broken_copy_is_caught(tmp_path: Path) -> None:
    assert check_workflow(WORKFLOW) == []
    broken = tmp_path / "weekly-timeouts.yml"
    broken.write_text(
        WORKFLOW.read_text()
        .replace("google-github-actions/auth@v3", "google-github-actions/auth@main")
        .replace("workflow_dispatch:", "workflow_dispatched:")
        .replace("uv sync --project .analyzer --locked", "uv tool install --from ./.analyzer")
    )
    problems = check_workflow(broken)
    assert any("auth@main" in p for p in problems)
    assert any("workflow_dispatch" in p for p in problems)
    assert any("uv sync --locked" in p for p in problems)


@pytest.mark.skipif(actionlint() is None, reason="no actionlint binary on PATH or in the venv")
def test_actionlint_passes_the_workflow_and_fails_a_broken_copy(tmp_path: Path) -> None:
    binary = actionlint()
    assert binary is not None
    good = subprocess.run([binary, str(WORKFLOW)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    broken = tmp_path / "weekly-timeouts.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu"))
    bad = subprocess.run([binary, str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "runs-on" in bad.stdout + bad.stderr


SCRIPTS = [SCRIPT, ROOT / "deploy" / "cloud-run-job" / "deploy.sh"]


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="no shellcheck (.ci/run installs it)"
)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.parent.name)
def test_shellcheck_passes_the_scripts_and_fails_a_broken_copy(
    script: Path, tmp_path: Path
) -> None:
    good = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout
    broken = tmp_path / script.name
    # An unquoted expansion, the classic shell bug shellcheck exists for.
    broken.write_text(script.read_text() + 'cp $1 "$HOME"\n')
    bad = subprocess.run(["shellcheck", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0 and "SC2086" in bad.stdout


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)


@pytest.fixture
def deployment_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A deployment repository (a real git repo with a bare origin) and the job's environment."""
    origin, repo, gh_dir, bin_dir = (tmp_path / n for n in ("origin.git", "repo", "gh", "bin"))
    for folder in (gh_dir, bin_dir):
        folder.mkdir()
    _run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    _run(["git", "init", "-q", "-b", "main", str(repo)], tmp_path)
    (repo / "analyzer.toml").write_text(
        f'[defaults]\nstore = "{tmp_path / "lake"}"\n\n[env.staging]\ndeployed = "{DEPLOYED}"\n'
    )
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    PATH = os.environ["PATH"]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), PATH]),
        "FAKE_GH_DIR": str(gh_dir),
        "ANALYZER_ENV": "staging",
        "ANALYZER_IMPORT": str(SAMPLE),
        "OUT_DIR": str(tmp_path / "out"),
        "REPORT_URL": "https://example.invalid/actions/runs/1",
        "GIT_AUTHOR_NAME": "weekly",
        "GIT_AUTHOR_EMAIL": "weekly@example.invalid",
        "GIT_COMMITTER_NAME": "weekly",
        "GIT_COMMITTER_EMAIL": "weekly@example.invalid",
        "NO_COLOR": "1",
    }
    env.pop("ANALYZER_STORE", None)
    env.pop("ANALYZER_PROJECT_FILE", None)
    _run(["git", "add", "analyzer.toml"], repo, env)
    _run(["git", "commit", "-q", "-m", "project file"], repo, env)
    _run(["git", "remote", "add", "origin", str(origin)], repo, env)
    _run(["git", "push", "-q", "origin", "main"], repo, env)
    return repo, env


def _weekly(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT)], cwd=repo, env=env, capture_output=True, text=True)


def _volatile(text: str) -> str:
    """The body without what changes from run to run (run id, when it was made)."""
    return re.sub(r"run [0-9a-f]{8}|made \S+ \S+", "<run>", text)


@pytest.mark.slow
def test_the_weekly_script_opens_one_pull_request_then_is_quiet_once_it_is_merged(
    deployment_repo: tuple[Path, dict[str, str]],
) -> None:
    repo, env = deployment_repo
    gh = Path(env["FAKE_GH_DIR"])
    origin = repo.parent / "origin.git"

    # Nothing deployed: a pull request adds the config, its body lists every key.
    first = _weekly(repo, env)
    assert first.returncode == 0, first.stdout + first.stderr
    calls = (gh / "calls.log").read_text().splitlines()
    assert calls[-1].startswith("pr create --base main --head analyzer/timeouts-staging")
    body = (gh / "body.md").read_text()
    assert "no config is deployed at deploy/staging/timeouts.json yet" in body
    shown, folded = body.split("<details>", 1)
    assert "ANALYZER_TIMEOUT__3__INITIALIZATION__PRESSURE=" in folded  # the whole config
    assert re.search(r"3  initialization  pressure .* -> \d+ s", shown)  # the evidence
    assert "(no evidence:" not in shown and len(shown.splitlines()) < 120
    assert "https://example.invalid/actions/runs/1" in shown and "Run: run " in folded
    shipped = subprocess.run(
        ["git", "--git-dir", str(origin), "show", f"analyzer/timeouts-staging:{DEPLOYED}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(shipped)["env"] == "staging"
    assert not (repo / DEPLOYED).exists()  # back on main, which has no config yet

    # The pull request merged: the same recommendation again changes nothing material.
    (repo / DEPLOYED).parent.mkdir(parents=True)
    (repo / DEPLOYED).write_text(shipped)
    _run(["git", "add", DEPLOYED], repo, env)
    _run(["git", "commit", "-q", "-m", "ship the config"], repo, env)
    calls_before = len((gh / "calls.log").read_text().splitlines())
    second = _weekly(repo, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no pull request" in second.stdout
    assert len((gh / "calls.log").read_text().splitlines()) == calls_before


@pytest.fixture
def shipped(sample_recommended_lake: Path, tmp_path: Path) -> str:
    """The config the weekly job's first run puts in its pull request: the standing run on the
    sample with nothing deployed, exported."""
    from click.testing import CliRunner

    from analyzer.cli import main

    out = tmp_path / "shipped.json"
    on = ["--env", "staging", "--store", str(sample_recommended_lake)]
    result = CliRunner().invoke(main, ["export", *on, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text()


@pytest.mark.slow
def test_the_weekly_script_updates_its_pull_request_and_stops_on_an_invalid_deployed_file(
    deployment_repo: tuple[Path, dict[str, str]], shipped: str
) -> None:
    """The first run's pull request open and its config merged, then edited by hand; the job's
    store fresh (a runner's)."""
    repo, env = deployment_repo
    gh = Path(env["FAKE_GH_DIR"])
    (gh / "pr-number").write_text("7\n")  # what the first run's `gh pr create` left open
    assert not (repo.parent / "lake").exists()

    # A deployed value far from the evidence: the same pull request is updated, naming it. On
    # a fresh store (a runner's), a value raised by hand where the window has no evidence
    # stays: the job carries over from the deployed file.
    config = json.loads(shipped)
    healthy = next(
        t
        for t in config["timeouts"]
        if (t["phase"], t["operation"], t["vpc_state"]) == (3, "connection", "healthy")
    )
    assert healthy["source"] != "recommended"
    healthy["timeout_s"] = 100.0
    entry = next(
        t
        for t in config["timeouts"]
        if (t["phase"], t["operation"], t["vpc_state"]) == (3, "initialization", "pressure")
    )
    recommended = entry["timeout_s"]
    entry["timeout_s"] = 40.0
    (repo / DEPLOYED).parent.mkdir(parents=True)
    (repo / DEPLOYED).write_text(json.dumps(config, indent=2) + "\n")
    _run(["git", "add", DEPLOYED], repo, env)
    _run(["git", "commit", "-q", "-m", "hand-edited pressure timeout"], repo, env)
    third = _weekly(repo, env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (gh / "calls.log").read_text().splitlines()[-1].startswith("pr edit 7 ")
    body = (gh / "body.md").read_text()
    assert re.search(rf"3/initialization/pressure\s+40 s -> {recommended:g} s", body), body
    assert "3/connection/healthy" not in body
    assert body.index("<details>") > body.index("3/initialization/pressure")
    if os.environ.get("ANALYZER_WRITE_EXAMPLES"):
        EXAMPLE_BODY.write_text(body)
    assert _volatile(EXAMPLE_BODY.read_text()) == _volatile(body), (
        "deploy/github/example-pr-body.md is stale: rerun with ANALYZER_WRITE_EXAMPLES=1"
    )

    # An invalid deployed file fails the job with export --diff's exit 2; no pull request call.
    (repo / DEPLOYED).write_text('{"schema_version": 2, "env": "staging", "timeouts": "x"}')
    calls_before = len((gh / "calls.log").read_text().splitlines())
    fourth = _weekly(repo, env)
    assert fourth.returncode == 2, fourth.stdout + fourth.stderr
    assert len((gh / "calls.log").read_text().splitlines()) == calls_before
