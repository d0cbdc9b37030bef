"""The job's container: the image builds where a Docker engine runs, and its command line runs
here either way, on the bundled sample, through the installed `analyze`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_image_command_line_runs_on_the_sample(tmp_path: Path) -> None:
    _, final = stages()
    argv = instruction("ENTRYPOINT", final) + instruction("CMD", final)
    assert argv[0] == "analyze"
    # The image's paths, here: the sample it copies in, the installed entry point.
    in_image = {"/opt/analyzer-sample": str(ROOT / "data" / "sample")}
    argv = [in_image.get(a, a) for a in argv]
    argv[0] = str(Path(sys.executable).parent / "analyze")
    done = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "$ analyze recommend --env staging" in done.stdout
    assert "wrote " in done.stdout and "timeouts-staging.json (json)" in done.stdout
    store = done.stdout.rsplit("The demo's store is ", 1)[1].split(" ", 1)[0]
    assert (Path(store) / "timeouts-staging.json").is_file()
    shutil.rmtree(store)


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
