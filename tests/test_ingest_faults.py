"""Import and recommend against a hostile machine: a file deleted mid-import, a file size limit,
a full disk, a store that cannot be written, absurd spans. Each ends in one line naming what is
at fault, never a traceback. The machine's limits are real: RLIMIT_FSIZE in a child process, a
tiny tmpfs in a mount namespace of its own, and a child without the capability that lets root
write where the permissions say no."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from analyzer.errors import AnalyzerError
from analyzer.ingest import import_paths
from analyzer.ingest.importer import ImportProgress
from analyzer.lake.store import Store
from tests.conftest import entry, write_ndjson

CLI = [sys.executable, "-c", "from analyzer.cli import main; main()"]


def _export(path: Path, entries: int = 600) -> Path:
    """An export whose segments are tens of kilobytes (the messages do not compress away)."""
    rows = [
        entry({"event": "phase_started", "phase": 3, "message": uuid.uuid4().hex * 4}, t=n)
        for n in range(entries)
    ]
    return write_ndjson(path, rows)


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_file_deleted_during_the_import_is_named(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analyzer.ingest.sources as sources

    monkeypatch.setattr(sources, "BATCH_FILES", 1)  # one batch per file
    first = _export(tmp_path / "a.jsonl", 5)
    second = _export(tmp_path / "b.jsonl", 5)

    def delete_the_next(progress: ImportProgress) -> None:
        second.unlink(missing_ok=True)

    with pytest.raises(AnalyzerError, match=r"b\.jsonl: the file disappeared during the import"):
        import_paths([first, second], env="staging", store=store, on_progress=delete_the_next)
    assert len(store.segments("events")) == 1  # the first file's entries stay imported


def test_a_file_size_limit_is_one_line_naming_the_file(tmp_path: Path) -> None:
    export = _export(tmp_path / "e.jsonl")
    limit = 16 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [*CLI, "import", str(export), "--env", "staging", "--store", str(tmp_path / "lake")],
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = _one_line_error(done, "File too large", str(tmp_path / "lake"), ".parquet")
    assert "the import stopped" in line


def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    export = _export(tmp_path / "e.jsonl")
    disk = tmp_path / "disk"
    disk.mkdir()
    command = " ".join(
        [
            f"mount -t tmpfs -o size=16k tmpfs {disk} && exec",
            *(f"'{part}'" for part in CLI),
            f"import {export} --env staging --store {disk / 'lake'}",
        ]
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120
    )
    if "mount" in done.stderr or "unshare" in done.stderr:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    _one_line_error(done, "No space left on device", str(disk / "lake"))


def _as_unprivileged(command: list[str]) -> list[str]:
    """`command` run so that the permissions bind it: as root, without the capability that
    writes past them (setpriv drops it from the bounding set, so the child never has it)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv(1) to drop root's override of file permissions")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


def _read_only(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            os.chmod(Path(folder) / name, 0o444)
        os.chmod(folder, 0o555)


@pytest.fixture
def read_only_store(tmp_path: Path) -> Path:
    """A store holding one startup's events that this test's children cannot write."""
    store = Store(tmp_path / "lake")
    import_paths([_export(tmp_path / "e.jsonl", 30)], env="staging", store=store)
    _read_only(store.root)
    yield store.root
    for folder, _, _ in os.walk(store.root):
        os.chmod(folder, 0o755)


def test_recommend_on_a_read_only_store_fails_before_its_work(read_only_store: Path) -> None:
    done = subprocess.run(
        _as_unprivileged(
            [*CLI, "recommend", "--env", "no-data-here", "--store", str(read_only_store)]
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Before the analysis, which would have said there is no data for this env (exit 2).
    _one_line_error(
        done, str(read_only_store / "recommendations"), "Permission denied", "--no-history"
    )
    done = subprocess.run(
        _as_unprivileged([*CLI, "summary", "--env", "staging", "--store", str(read_only_store)]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # reading needs no writing


def test_import_into_a_read_only_store_is_one_line(read_only_store: Path, tmp_path: Path) -> None:
    export = _export(tmp_path / "more.jsonl", 5)
    done = subprocess.run(
        _as_unprivileged(
            [*CLI, "import", str(export), "--env", "staging", "--store", str(read_only_store)]
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    _one_line_error(done, str(read_only_store), "Permission denied")


@pytest.mark.parametrize("since", ["99999999999d", "1000000d", "9" * 400 + "w"])
def test_an_absurd_since_is_one_line(tmp_path: Path, since: str) -> None:
    from click.testing import CliRunner

    from analyzer.cli import main

    store = Store(tmp_path / "lake")
    import_paths([_export(tmp_path / "e.jsonl", 5)], env="staging", store=store)
    done = CliRunner().invoke(
        main, ["recommend", "--env", "staging", "--store", str(store.root), "--since", since]
    )
    assert done.exit_code == 2, done.output  # a span is checked with the command line
    assert f"'{since}'" in done.output and "internal error" not in done.output
