"""The store's locks: one writer at a time (a writer that must wait says for whom), segments
listed by readers only between a compact's swaps, and the folders of commands that died."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from analyzer.errors import AnalyzerError

POLL_S = 0.1


@contextmanager
def exclusive_lock(root: Path, *, timeout_s: float | None = None) -> Iterator[None]:
    """`root/.lock` held exclusively for the block (an flock, so a writer that dies lets go).
    The holder writes who it is into the file (pid, command, since); a writer that has to wait
    says so on stderr, naming the holder, and gives up after `timeout_s` (None: waits)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock_file = open(root / ".lock", "a+b")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise AnalyzerError(f"cannot open store {root}: {exc.strerror}") from exc
    with lock_file:
        fd = lock_file.fileno()
        _take(fd, root, timeout_s)
        try:
            _write_holder(fd)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)


def _take(fd: int, root: Path, timeout_s: float | None) -> None:
    waited_since = time.monotonic()
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _read_holder(fd)
        if timeout_s is not None and time.monotonic() - waited_since >= timeout_s:
            raise AnalyzerError(
                f"store {root} is locked by {holder}; gave up after {timeout_s:g} s "
                "(--lock-timeout)"
            )
        if not told:
            print(
                f"waiting for the lock of store {root}, held by {holder}: {wait_limit(timeout_s)}",
                file=sys.stderr,
                flush=True,
            )
            told = True
        time.sleep(POLL_S)


def wait_limit(timeout_s: float | None) -> str:
    """How long a waiting writer will wait, as its message says it."""
    if timeout_s is None:
        return "until it is free (--lock-timeout S to give up)"
    return f"at most {timeout_s:g} s"


def this_command() -> str:
    """The running command line, as a lock's holder names itself."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "?"
    return command[:300]


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "command": this_command(),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _read_holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"null")
        return f"pid {int(holder['pid'])} ({holder['command']}) since {holder['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "another writer (it left no details)"


SWAP_LOCK = ".segments.lock"


@contextmanager
def segment_swap(root: Path) -> Iterator[None]:
    """Held while a writer replaces segments (publishes new ones, removes the old): a reader
    listing segments under `segment_listing` sees the set before or after, never between."""
    with _flocked(root, fcntl.LOCK_EX):
        yield


@contextmanager
def segment_listing(root: Path) -> Iterator[bool]:
    """Held (shared) while a reader lists segments and takes its snapshot of them (see
    `lake.snapshot`): it lasts milliseconds, so a compact's swap waits at most that long.
    Yields False when the store cannot hold the lock file (a read-only folder)."""
    try:
        with _flocked(root, fcntl.LOCK_SH):
            yield True
            return
    except _NoLockFile:
        pass
    yield False


class _NoLockFile(Exception):
    pass


@contextmanager
def _flocked(root: Path, how: int) -> Iterator[None]:
    try:
        fd = os.open(root / SWAP_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        if how == fcntl.LOCK_SH:
            raise _NoLockFile from exc
        raise AnalyzerError(f"cannot open store {root}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)  # lets go of the flock


def command_folder(parent: Path) -> Path:
    """A folder of this command's own under `parent`, named `HOST-PID-ID` so that
    `remove_folders_of_dead_commands` knows when its command is gone."""
    return parent / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def remove_folders_of_dead_commands(parent: Path) -> None:
    """The `command_folder`s under `parent` whose command ran on this host and is no longer
    running (killed: a command removes its own when it ends). Those named `PID-ID`, from before
    the host was in the name, are taken as this host's."""
    try:
        folders = list(parent.iterdir())
    except OSError:
        return
    for folder in folders:
        host, _, pid = folder.name.rpartition("-")[0].rpartition("-")
        if pid.isdigit() and gone_from_this_host(host or socket.gethostname(), int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def gone_from_this_host(host: object, pid: object) -> bool:
    """Whether the process `pid` of `host` is known to have ended (False when unsure: another
    host, another user's process, a pid that is not a number)."""
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
