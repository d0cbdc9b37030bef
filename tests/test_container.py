"""The job's container: the image builds where a Docker engine runs; either way its build
stage is replayed here with uv and its command line runs in-process on the bundled sample."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analyzer.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "container" / "entrypoint.sh"


def instruction(name: str, stage: str) -> list[str]:
    """An exec-form (JSON array) instruction of one stage of the Dockerfile."""
    (line,) = [line for line in stage.splitlines() if line.startswith(name + " ")]
    argv: list[str] = json.loads(line.removeprefix(name + " "))
    return argv


def stages() -> list[str]:
    text = DOCKERFILE.read_text()
    return ["FROM " + part for part in text.split("\nFROM ")[1:]]


def test_the_image_is_multi_stage_non_root_and_lean() -> None:
    build, final = stages()
    assert " AS build" in build.splitlines()[0] and "uv sync --locked --no-dev" in build
    assert "/uv" not in final and "apt-get" not in final and "COPY --from=build" in final
    # no USER: the entrypoint drops root before anything runs (test_the_entrypoint_...)
    assert instruction("ENTRYPOINT", final) == ["analyzer-entrypoint"]
    assert f"COPY {ENTRYPOINT.relative_to(ROOT)} /usr/local/bin/analyzer-entrypoint" in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # nothing gets in unless listed
    copied_in = ("analyzer", "queries", "data/sample", "uv.lock", "pyproject.toml")
    for copied in (*copied_in, "deploy/container/entrypoint.sh"):
        assert f"!{copied}" in ignored or f"!{copied}/" in ignored


def context_files() -> list[str]:
    """What .dockerignore lets into the build context (it ignores everything, then allows)."""
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip()]
    return [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]


def image_command_line() -> list[str]:
    """The image's ENTRYPOINT and CMD."""
    _, final = stages()
    argv = instruction("ENTRYPOINT", final) + instruction("CMD", final)
    assert argv[0] == "analyzer-entrypoint" and "exec setpriv" in ENTRYPOINT.read_text()
    return ["analyze", *argv[1:]]  # the entrypoint runs `analyze "$@"`


def test_the_image_command_line_runs_the_demo_on_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_manifests: dict[str, Any]
) -> None:
    """In-process, through click, from an empty working folder as the image's /work."""
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, image_command_line()[1:], prog_name="analyze")
    assert done.exit_code == 0, done.output[-2000:]
    assert "$ analyze import" in done.output
    assert f"stored {sample_manifests['staging'].telemetry_entries:,}" in done.output
    assert "$ analyze recommend --env staging" in done.output
    assert "failure_threshold" in done.output and "env staging" in done.output
    assert "timeouts-staging.json (json)" in done.output
    store = done.output.rsplit("The demo's store is ", 1)[1].split(" ", 1)[0]
    assert (Path(store) / "timeouts-staging.json").is_file()
    shutil.rmtree(store)


@pytest.mark.slow
def test_the_build_stage_makes_an_environment_that_runs_without_the_sources(
    tmp_path: Path,
) -> None:
    """The build stage's commands, replayed with uv on a copy of the build context (what
    .dockerignore lets in), install an `analyze` that starts with the sources gone, with its SQL."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    build, _ = stages()
    context, environment = tmp_path / "context", tmp_path / "opt-analyzer"
    for name in context_files():
        source, target = ROOT / name, context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(environment), "UV_PYTHON_DOWNLOADS": "never"}
    for line in build.splitlines():
        if line.startswith("RUN "):
            argv = shlex.split(line.removeprefix("RUN "))
            argv[0] = uv if argv[0] == "uv" else argv[0]
            subprocess.run(argv, cwd=context, env=env, check=True, capture_output=True)
    shutil.rmtree(context)  # the final stage has the environment, not the sources
    analyze = str(environment / "bin" / "analyze")
    version = subprocess.run(
        [analyze, "--version"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("analyze, version ")
    (installed,) = environment.glob("lib/python3*/site-packages/analyzer")
    shipped = {p.name for p in (installed / "queries").glob("*.sql")}
    assert shipped == {p.name for p in (ROOT / "queries").glob("*.sql")}
    # analyzer.runtime comes from its own distribution, installed beside the analyzer's
    assert (installed / "runtime" / "calculator.py").is_file()
    assert list(installed.parent.glob("analyzer_runtime-*.dist-info"))
    # the job's environment carries no BigQuery client (an extra): one clear line if asked
    assert not (installed.parent / "pyarrow").exists()
    assert not (installed.parent / "google" / "cloud" / "bigquery").exists()
    asked = subprocess.run(
        [analyze, "summary", "--env", "staging", "--engine", "bigquery", "--source", "p.d.t"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert asked.returncode == 1 and "needs the bigquery extra" in asked.stderr, asked.stderr
    # the demo finds its sample inside the installed package, whatever the working folder
    shipped_sample = {p.relative_to(installed / "data" / "sample") for p in installed.rglob("*.gz")}
    assert shipped_sample == {
        p.relative_to(ROOT / "data" / "sample") for p in (ROOT / "data" / "sample").rglob("*.gz")
    }
    demo = subprocess.run(
        [analyze, "demo"], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "$ analyze recommend --env staging" in demo.stdout


def _engine_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on PATH"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "no Docker engine answers (docker info: " + info.stderr.strip()[-200:] + ")"
    return None


@pytest.mark.slow
def test_the_image_builds_and_starts() -> None:
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    tag = "analyzer-test:latest"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1200)
    version = subprocess.run(
        ["docker", "run", "--rm", tag, "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("analyze, version ")
    whoami = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert whoami.stdout.strip() != "0"


def _owners(folder: Path) -> set[int]:
    return {p.stat().st_uid for p in folder.rglob("*")}


@pytest.mark.skipif(os.geteuid() != 0, reason="the entrypoint drops root: it needs root to run")
def test_the_entrypoint_runs_as_the_owner_of_the_working_folder() -> None:
    """As `docker run -v "$PWD:/work"` starts it: as root, in a folder a host user owns."""
    import tempfile

    analyze_bin = str(Path(shutil.which("analyze") or ROOT / ".venv" / "bin" / "analyze").parent)
    env = {**os.environ, "PATH": f"{analyze_bin}:{os.environ['PATH']}"}

    def entrypoint(cwd: Path, *args: str) -> None:
        done = subprocess.run(
            ["sh", str(ENTRYPOINT), *args], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]

    simulate = ("simulate", "--env", "staging", "--days", "1", "--out")
    with tempfile.TemporaryDirectory(prefix="h9-entrypoint-") as scratch:
        top = Path(scratch)
        top.chmod(0o755)
        host = top / "host"  # a host user's folder, only they may write it
        host.mkdir()
        host.chmod(0o755)
        os.chown(host, 12345, 12345)
        entrypoint(host, *simulate, "e.jsonl.gz")
        entrypoint(host, "import", "e.jsonl.gz", "--env", "staging", "--store", "lake")
        assert _owners(host) == {12345}  # the lake and the export are the host user's
        root_owned = top / "work"  # /work as built: root's; the image's own user runs
        root_owned.mkdir()
        root_owned.chmod(0o755)
        out = top / "shared"
        out.mkdir()
        out.chmod(0o1777)
        entrypoint(root_owned, *simulate, str(out / "e.jsonl.gz"))
        assert _owners(out) == {10001}
