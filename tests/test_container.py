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
    (user,) = [line for line in final.splitlines() if line.startswith("USER ")]
    assert user.split()[1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # nothing gets in unless listed
    for copied in ("analyzer", "queries", "data/sample", "uv.lock", "pyproject.toml"):
        assert f"!{copied}" in ignored or f"!{copied}/" in ignored


def context_files() -> list[str]:
    """What .dockerignore lets into the build context (it ignores everything, then allows)."""
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip()]
    return [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]


def image_command_line() -> list[str]:
    """The image's ENTRYPOINT and CMD."""
    _, final = stages()
    argv = instruction("ENTRYPOINT", final) + instruction("CMD", final)
    assert argv[0] == "analyze"
    return argv


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
