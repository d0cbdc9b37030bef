"""Rewrites a file whose entries sit in other JSON shapes as one entry per line.

DuckDB's readers take a gcloud array or objects one after another, each top-level value being
one entry. People also save arrays behind a byte-order mark (PowerShell), arrays followed by
lines, arrays one after another (`cat a.json b.json`), an array of arrays (`jq -s`), a line
holding an array, and `entries.list` responses (`{"entries": [...]}`). This reader walks any of
those, one value at a time (never the whole file in memory), and writes each entry on a line of
its own, so the importer reads the result as it reads a sink export. Whatever is left that is
not an entry is written as it is, for the normaliser to quarantine.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 64 << 20  # one value (not an array, which is walked) longer is refused
# Arrays around entries go a few levels deep (`jq -s` of gcloud arrays: two); a file nested
# deeper is not an export, and Python's JSON reader gives up near a thousand levels anyway.
MAX_ARRAY_DEPTH = 64

_WHITESPACE = " \t\r\n"
# A LogEntry has at least one of these; an object with none of them and an `entries` list is
# a saved entries.list response.
_ENTRY_KEYS = ("insertId", "timestamp", "logName", "jsonPayload", "textPayload", "resource")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class ShapeError(ValueError):
    """The file is not JSON values one after another."""


class TooDeep(ShapeError):
    """The file nests arrays or objects deeper than an export does (or Python can read)."""


def flatten_entries(source: Path, target: Path) -> int:
    """Write every entry of `source` (gzip or not, any of the shapes above) to `target`, one
    JSON object a line; returns how many values were written."""
    opener = gzip.open if source.name.lower().endswith(".gz") else open
    written = 0
    with opener(source, "rb") as raw, open(target, "w", encoding="utf-8") as out:
        try:
            for value in _Values(raw).entries():
                out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                written += 1
        except RecursionError:
            raise TooDeep("JSON nested deeper than Python reads (about 1,000 levels)") from None
    return written


class _Values:
    """Top-level JSON values of a byte stream, with arrays walked element by element."""

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        self._decode = codecs.getincrementaldecoder("utf-8-sig")().decode
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._at = 0
        self._eof = False

    def entries(self) -> Iterator[Any]:
        while self._peek() != "":
            yield from self._unwrapped(self._value())

    def _unwrapped(self, value: Any) -> Iterator[Any]:
        """The entries in `value`, arrays and saved responses opened (a stack of the ones
        open, not recursion: the nesting is bounded by MAX_ARRAY_DEPTH, not by Python's)."""
        open_: list[Iterator[Any]] = [iter((value,))]
        while open_:
            element = next(open_[-1], _END)
            if element is _END:
                open_.pop()
                continue
            if isinstance(element, (_Array, list)):  # a list: an array inside a saved response
                inner: Iterator[Any] = iter(element)
            elif (
                isinstance(element, dict)
                and isinstance(element.get("entries"), list)
                and not any(key in element for key in _ENTRY_KEYS)
            ):
                inner = iter(element["entries"])
            else:
                yield element
                continue
            if len(open_) > MAX_ARRAY_DEPTH:
                raise TooDeep(f"arrays nested more than {MAX_ARRAY_DEPTH} levels deep")
            open_.append(inner)

    def _value(self) -> Any:
        """The next value: an array as an iterator over its elements, anything else decoded."""
        if self._peek() == "[":
            self._at += 1
            return _Array(self)
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._at)
            except json.JSONDecodeError as exc:
                if self._eof or len(self._buffer) - self._at > MAX_VALUE_CHARS:
                    raise ShapeError(f"not JSON: {exc.msg}") from exc
                self._fill()
                continue
            if end == len(self._buffer) and not self._eof:  # a number may go on in the next chunk
                self._fill()
                continue
            self._at = end
            return value

    def _peek(self) -> str:
        """The next character that is not whitespace ('' at the end), not consumed."""
        while True:
            while self._at < len(self._buffer) and self._buffer[self._at] in _WHITESPACE:
                self._at += 1
            if self._at < len(self._buffer) or self._eof:
                return self._buffer[self._at : self._at + 1]
            self._fill()

    def _take(self, expected: str) -> str:
        found = self._peek()
        if found == "" or found not in expected:
            found = found or "the end"
            raise ShapeError(f"not JSON: expected one of {expected!r}, found {found!r}")
        self._at += 1
        return found

    def _fill(self) -> None:
        if self._at > CHUNK_CHARS:
            self._buffer, self._at = self._buffer[self._at :], 0
        chunk = self._raw.read(CHUNK_CHARS)
        self._eof = not chunk
        self._buffer += self._decode(chunk, final=self._eof)


_END = object()


class _Array:
    """The elements of an array being read (its `[` already consumed), each read on demand,
    once."""

    def __init__(self, values: _Values) -> None:
        self._elements = self._walk(values)

    def __iter__(self) -> Iterator[Any]:
        return self._elements

    def _walk(self, values: _Values) -> Iterator[Any]:
        if values._peek() == "]":
            values._at += 1
            return
        while True:
            element = values._value()
            yield element
            if isinstance(element, _Array):
                for _ in element:  # what the caller left of a nested array: read past it
                    pass
            if values._take(",]") == "]":
                return
