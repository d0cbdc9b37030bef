"""A lake in a GCS bucket: a local working copy kept in step with `gs://bucket/prefix`.

Every command runs on a working copy of its own (a folder of hard links into a cache of
downloaded objects), so the store's local guarantees hold on it unchanged. Around that:

- reading: the objects under the prefix are listed and the ones the cache lacks are
  downloaded (segments never change, so a cached object is keyed by name and generation);
- writing: the writer first creates `PREFIX/.lock` in the bucket, a create-only upload that
  only one writer can win; then it syncs again, runs under the local lock, and pushes:
  new objects created only where none exists, segments before the records that name them,
  changed records replaced only if the generation it read is still there (so a lost update
  is impossible), removed objects deleted last; then it deletes the lock object.

An object's key (its name less `PREFIX/`) names a file in the cache and in the working copy, so
every key read from the bucket or written to it passes one rule (`key_problem`): relative, no
empty, `.` or `..` parts, no backslash or NUL. An object whose name breaks it is skipped, named
in one warning; it can never make a path outside the cache.

A stale lock object is never broken silently: one whose holder ran on this host and is no
longer running is removed with a message; any other is named with the command to remove it.
"""

from __future__ import annotations

import atexit
import contextlib
import filecmp
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.lake.lock import (
    command_folder,
    gone_from_this_host,
    remove_folders_of_dead_commands,
    this_command,
    wait_limit,
)

GS_SCHEME = "gs://"
LOCK_KEY = ".lock"
EMULATOR_ENV_VAR = "STORAGE_EMULATOR_HOST"  # the client library's own: tests and emulators
POLL_S = 0.25
# A bucket that fails (refuses, resets, answers 5xx) is retried this long per request, and one
# request waits this long for a connection or for its next bytes: a command whose bucket dies
# ends within RETRY_S + REQUEST_TIMEOUT_S of its last good answer (about RETRY_S when the
# bucket refuses or answers 5xx), with one line naming the store. The client's defaults (120 s
# of retries, 60 s a request) kept a dying bucket's command silent for minutes.
RETRY_S = 20.0
REQUEST_TIMEOUT_S = 20.0
SYNC_ATTEMPTS = 3
# Pushed last among the replaced records: while it is stale, reads deduplicate (safe).
SEALS_KEY = "sealed-segments.txt"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")  # GCS allows up to 222

_open_lakes: list[BucketLake] = []


def is_bucket_url(store: str | Path) -> bool:
    return str(store).startswith(GS_SCHEME)


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "analyzer" / "gcs"


def open_bucket_lake(url: str) -> BucketLake:
    """The lake at `url`, its working copy in step with the bucket as of now."""
    bucket, _, prefix = url.removeprefix(GS_SCHEME).partition("/")
    prefix = prefix.strip("/")
    # Both name folders of the cache: held to GCS's bucket names and to the key rule.
    if not BUCKET_NAME.fullmatch(bucket) or (prefix and key_problem(prefix)):
        raise AnalyzerError(f"invalid store {url!r}: use gs://BUCKET/PREFIX")
    lake = BucketLake(bucket, prefix)
    lake.sync_down()
    _open_lakes.append(lake)
    return lake


def close_bucket_lakes() -> None:
    """At the end of a command: files written outside the lock (history) uploaded, create
    only; working copies removed."""
    while _open_lakes:
        _open_lakes.pop().close()


class BucketLake:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket_name, self.prefix = bucket, prefix
        self.url = f"{GS_SCHEME}{bucket}/{prefix}".rstrip("/")
        self.cache = cache_home() / bucket / (prefix or "_")
        self.objects = self.cache / "objects"
        # A command killed (SIGKILL, a power cut) leaves its working copy: the next removes it.
        remove_folders_of_dead_commands(self.cache / "work")
        self.working_copy = command_folder(self.cache / "work")
        self.listed: dict[str, int] = {}  # key (store-relative) -> generation, as last synced
        self.failed = False  # the bucket failed past its retries: nothing more is sent to it
        self._told_retrying = False
        self._bucket = _client().bucket(bucket)
        atexit.register(shutil.rmtree, self.working_copy, ignore_errors=True)

    def _calls(self) -> dict[str, Any]:
        """The timeout and retries every request to the bucket is made with (RETRY_S)."""
        from google.api_core.retry import Retry
        from google.cloud.storage.retry import DEFAULT_RETRY

        retry = Retry(predicate=DEFAULT_RETRY._predicate, timeout=RETRY_S, on_error=self._retrying)
        return {"timeout": REQUEST_TIMEOUT_S, "retry": retry}

    def _retrying(self, exc: Exception) -> None:
        if not self._told_retrying:
            self._told_retrying = True
            print(
                f"store {self.url}: the bucket failed ({_short(exc)}); retrying for up to "
                f"{RETRY_S:g} s",
                file=sys.stderr,
                flush=True,
            )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Failures of the service as one line (preconditions and absences are the caller's);
        once it has failed, nothing more is sent to it."""
        from google.api_core import exceptions

        if self.failed:
            raise AnalyzerError(f"store {self.url}: the bucket failed earlier in this command")
        try:
            yield
        except (exceptions.PreconditionFailed, exceptions.NotFound):
            raise
        except exceptions.RetryError as exc:
            self.failed = True
            raise AnalyzerError(
                f"store {self.url}: the bucket failed for {RETRY_S:g} s of retries "
                f"({_short(exc.cause or exc)}); nothing more was sent to it, a rerun goes on "
                "from what it holds"
            ) from exc
        except exceptions.GoogleAPICallError as exc:
            raise AnalyzerError(f"store {self.url}: {exc.message or exc}") from exc
        except OSError as exc:  # connection refused, DNS, a timeout
            self.failed = True
            raise AnalyzerError(
                f"store {self.url}: cannot reach the bucket ({_short(exc)})"
            ) from exc

    def _name(self, key: str) -> str:
        """The object's name in the bucket (the key checked: see `key_problem`)."""
        checked_key(key, self.url)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _local(self, key: str) -> Path:
        """The key's file in the working copy (the key checked)."""
        return self.working_copy / checked_key(key, self.url)

    def _cached(self, key: str, generation: int) -> Path:
        """The cached download of one generation of the key (the key checked)."""
        return self.objects / f"{checked_key(key, self.url)}@{generation}"

    def sync_down(self) -> None:
        """Make the working copy what the bucket holds (files this process wrote and has
        not pushed yet are kept)."""
        for attempt in range(SYNC_ATTEMPTS):
            listing = self._list()
            try:
                for key, generation in listing.items():
                    if self.listed.get(key) != generation or not self._local(key).exists():
                        self._place(key, generation)
            except _Changed:
                if attempt == SYNC_ATTEMPTS - 1:
                    raise AnalyzerError(
                        f"store {self.url} kept changing while it was read; try again"
                    ) from None
                continue
            for key in set(self.listed) - set(listing):
                self._local(key).unlink(missing_ok=True)
            self.listed = listing
            return

    def _list(self) -> dict[str, int]:
        start = f"{self.prefix}/" if self.prefix else ""
        with self._errors():
            blobs = list(
                self._bucket.client.list_blobs(self.bucket_name, prefix=start, **self._calls())
            )
        found, refused = {}, []
        for blob in blobs:
            key = blob.name[len(start) :]
            if not key or (key.endswith("/") and not key_problem(key[:-1])):
                continue  # the prefix itself, or a folder marker
            if key_problem(key):
                refused.append(blob.name)
            elif not _hidden(key):
                found[key] = int(blob.generation)
        if refused:
            _warn_refused(self.url, refused)
        return found

    def _place(self, key: str, generation: int) -> None:
        cached = self._cached(key, generation)
        if not cached.exists():
            from google.api_core import exceptions

            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}")
            try:
                with self._errors():
                    self._bucket.blob(self._name(key)).download_to_filename(
                        str(partial), if_generation_match=generation, **self._calls()
                    )
            except (exceptions.NotFound, exceptions.PreconditionFailed):
                partial.unlink(missing_ok=True)
                raise _Changed from None
            partial.chmod(0o444)  # shared by working copies: never written in place
            os.replace(partial, cached)
        target = self._local(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        if key.endswith(".parquet"):  # moved or removed, never written: a link will do
            try:
                os.link(cached, target)
                return
            except OSError:
                pass
        shutil.copyfile(cached, target)  # records are appended to in place: a copy of its own

    @contextmanager
    def writer(self, timeout_s: float | None) -> Iterator[None]:
        """The bucket's lock held, the working copy synced, for the block; then its changes
        pushed (also when the block failed: what it stored stays stored, as locally)."""
        lock_generation = self._take_lock(timeout_s)
        try:
            self.sync_down()
            try:
                yield
            finally:
                self.push()
        finally:
            if not self.failed:  # else its lock is left: the next command here removes it
                self._release_lock(lock_generation)

    def push(self, *, create_only: bool = False) -> None:
        """The working copy's changes to the bucket, in an order that keeps it readable at
        every step (see the module's docstring)."""
        local = {
            str(p.relative_to(self.working_copy)): p
            for p in sorted(self.working_copy.rglob("*"))
            if p.is_file() and not _hidden(str(p.relative_to(self.working_copy)))
        }
        new = [k for k in local if k not in self.listed]
        new.sort(key=lambda k: not k.endswith(".parquet"))  # segments first
        for key in new:
            self._upload(key, local[key], if_generation_match=0)
        if create_only:
            return
        changed = [
            k
            for k in local
            if k in self.listed
            and not k.endswith(".parquet")
            and not filecmp.cmp(local[k], self._cached(k, self.listed[k]), shallow=False)
        ]
        changed.sort(key=lambda k: k == SEALS_KEY)
        for key in changed:
            self._upload(key, local[key], if_generation_match=self.listed[key])
        for key in sorted(set(self.listed) - set(local)):
            self._delete(key)

    def _upload(self, key: str, path: Path, *, if_generation_match: int) -> None:
        from google.api_core import exceptions

        blob = self._bucket.blob(self._name(key))
        try:
            with self._errors():
                blob.upload_from_filename(
                    str(path), if_generation_match=if_generation_match, **self._calls()
                )
        except exceptions.PreconditionFailed:
            what = (
                "was created meanwhile by someone else"
                if if_generation_match == 0
                else f"was changed by someone else since generation {if_generation_match}"
            )
            raise AnalyzerError(
                f"store {self.url}: {key} {what} (a writer that did not hold the lock); "
                "it was left as they wrote it, and the segments of this run are in the bucket "
                "(a rerun adds what is missing)"
            ) from None
        cached = self._cached(key, int(blob.generation))
        cached.parent.mkdir(parents=True, exist_ok=True)
        if not cached.exists():
            shutil.copyfile(path, cached)
            cached.chmod(0o444)
        self.listed[key] = int(blob.generation)

    def _delete(self, key: str) -> None:
        from google.api_core import exceptions

        with contextlib.suppress(exceptions.NotFound), self._errors():
            try:
                self._bucket.blob(self._name(key)).delete(
                    if_generation_match=self.listed[key], **self._calls()
                )
            except exceptions.PreconditionFailed:
                raise AnalyzerError(
                    f"store {self.url}: {key} was replaced by someone else, so it was not "
                    "removed; run the command again"
                ) from None
        del self.listed[key]

    def _take_lock(self, timeout_s: float | None) -> int:
        from google.api_core import exceptions

        blob = self._bucket.blob(self._name(LOCK_KEY))
        waited_since, told = time.monotonic(), False
        remove = f"gcloud storage rm {self.url}/{LOCK_KEY}"
        while True:
            try:
                with self._errors():
                    blob.upload_from_string(_holder_text(), if_generation_match=0, **self._calls())
                return int(blob.generation)
            except exceptions.PreconditionFailed:
                pass
            holder, generation = self._read_holder()
            if holder is None:
                continue  # released meanwhile
            if gone_from_this_host(holder.get("host"), holder.get("pid")):
                print(
                    f"removing the stale lock of store {self.url}: {_describe(holder)} is no "
                    "longer running on this host",
                    file=sys.stderr,
                    flush=True,
                )
                with (
                    contextlib.suppress(exceptions.NotFound, exceptions.PreconditionFailed),
                    self._errors(),
                ):
                    blob.delete(if_generation_match=generation, **self._calls())
                continue
            if timeout_s is not None and time.monotonic() - waited_since >= timeout_s:
                raise AnalyzerError(
                    f"store {self.url} is locked by {_describe(holder)}; gave up after "
                    f"{timeout_s:g} s (--lock-timeout). If that writer is gone: {remove}"
                )
            if not told:
                print(
                    f"waiting for the lock of store {self.url}, held by {_describe(holder)}: "
                    f"{wait_limit(timeout_s)}; if that writer is gone: {remove}",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            time.sleep(POLL_S)

    def _read_holder(self) -> tuple[dict[str, Any] | None, int]:
        from google.api_core import exceptions

        try:
            with self._errors():
                blob = self._bucket.get_blob(self._name(LOCK_KEY), **self._calls())
                if blob is None:
                    return None, 0
                generation = int(blob.generation)
                text = blob.download_as_bytes(if_generation_match=generation, **self._calls())
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return None, 0  # released or replaced meanwhile: look again
        try:
            holder = json.loads(text)
        except ValueError:
            holder = {}
        return (holder if isinstance(holder, dict) else {}), generation

    def _release_lock(self, generation: int) -> None:
        from google.api_core import exceptions

        try:
            with self._errors():
                self._bucket.blob(self._name(LOCK_KEY)).delete(
                    if_generation_match=generation, **self._calls()
                )
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            print(
                f"warning: the lock of store {self.url} was removed by someone else "
                "while this command held it",
                file=sys.stderr,
            )

    def close(self) -> None:
        try:
            if self.working_copy.is_dir() and not self.failed:
                self.push(create_only=True)
        finally:
            shutil.rmtree(self.working_copy, ignore_errors=True)


class _Changed(Exception):
    """An object changed between the listing and its download."""


def key_problem(key: str) -> str | None:
    """Why `key` cannot name a file under the store's folder (None: it can). The one rule for
    every key read from the bucket or written to it."""
    if not key:
        return "an empty name"
    if "\\" in key or "\0" in key:
        return "a backslash or NUL in its name"
    if key.startswith("/"):
        return "an absolute path"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "an empty, '.' or '..' part"
    return None


def checked_key(key: str, url: str) -> str:
    """`key`, if it passes `key_problem`; else the error naming it."""
    if problem := key_problem(key):
        raise AnalyzerError(f"store {url}: refused object key {key!r}: {problem}")
    return key


def _warn_refused(url: str, names: list[str]) -> None:
    shown = ", ".join(repr(n) for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    print(
        f"warning: store {url}: skipped {len(names)} object(s) whose names would lead outside "
        f"the store's folder (empty, '.' or '..' parts, a leading '/', a backslash or NUL): "
        f"{shown}{more}",
        file=sys.stderr,
        flush=True,
    )


def _hidden(key: str) -> bool:
    """The lock, staging folders and temporaries: never synced."""
    return any(part.startswith(".") for part in key.split("/"))


def _client() -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get(EMULATOR_ENV_VAR):
        from google.auth.credentials import AnonymousCredentials

        anonymous: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project="emulator", credentials=anonymous)
    import google.auth.exceptions

    try:
        return storage.Client()
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise AnalyzerError(
            f"no Google Cloud credentials for the bucket: {exc} "
            "(run `gcloud auth application-default login`)"
        ) from exc


def _short(exc: BaseException) -> str:
    """An error of the client or of its HTTP library in a few words: the OS's reason when
    there is one (urllib3 nests it in a long text), else the error's first line."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and not str(exc).startswith(str(status)):
        return f"HTTP {status}"  # an upload's error: its text is a tuple of fragments
    text = str(exc).strip()
    if found := re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text):
        return found.group(1).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def _holder_text() -> str:
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": this_command(),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def _describe(holder: dict[str, Any]) -> str:
    if not {"pid", "host", "command", "since"} <= holder.keys():
        return "another writer (it left no details)"
    return f"pid {holder['pid']} on {holder['host']} ({holder['command']}) since {holder['since']}"
