"""A reader's snapshot of the segments: they stay readable while a compact replaces them.

A reader lists the segments and hard-links each into a folder of its own
(`STORE/.readers/HOST-PID-ID/`), both under the shared `segment_listing` lock; a compact swaps
segments (publishes the new, removes the old) under the exclusive `segment_swap` lock. So a
listing is the set before a swap or after it, and the segments it names stay on disk through
their links, however long the read takes, until the reader removes its folder. A reader killed
leaves its folder; the next reader removes it. Where links cannot be made (a read-only folder,
a file system without them) the reader reads the segments in place, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
from pathlib import Path

from analyzer.lake.lock import command_folder, remove_folders_of_dead_commands, segment_listing
from analyzer.lake.store import Store

READERS_DIR = ".readers"


class Snapshot:
    """The store's event segments as listed at one moment (`segments`, as the records name
    them) and the files that keep them readable (`files`, what DuckDB is given)."""

    def __init__(self, store: Store, segments: list[Path], files: list[Path], folder: Path | None):
        self.store, self.segments, self.files, self._folder = store, segments, files, folder
        if folder is not None:
            atexit.register(self.remove)

    @classmethod
    def take(cls, store: Store, *, unless: list[Path] | None = None) -> Snapshot | None:
        """The segments as listed now, linked into a folder of this reader's own; None when
        the listing is `unless` (the caller's snapshot still holds them)."""
        with segment_listing(store.root) as lockable:
            segments = store.segments("events")
            if segments == unless:
                return None
            folder = command_folder(store.root / READERS_DIR) if lockable and segments else None
            files = _linked(store, segments, folder) if folder is not None else None
        if files is None:
            return cls(store, segments, segments, None)
        return cls(store, segments, files, folder)

    def remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            atexit.unregister(self.remove)
            self._folder = None


def _linked(store: Store, segments: list[Path], folder: Path) -> list[Path] | None:
    """Each segment hard-linked under `folder` at its store-relative path (a segment removed
    by hand meanwhile is read in place, and fails as it would have); None if links cannot be
    made here."""
    remove_folders_of_dead_commands(store.root / READERS_DIR)
    files, made = [], set()
    try:
        for segment in segments:
            link = folder / segment.relative_to(store.root)
            if link.parent not in made:  # a day's segments share their folder
                link.parent.mkdir(parents=True, exist_ok=True)
                made.add(link.parent)
            try:
                os.link(segment, link)
            except FileNotFoundError:
                link = segment
            files.append(link)
    except OSError:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
        return None
    return files
