"""Reading a config file safely: a regular file only, at most 4 MB whatever it claims, decoded
by its suffix (.json, .yaml/.yml, .env). Shared by the runtime and the CLI's checks."""

from __future__ import annotations

import json
import os
import stat

from analyzer.runtime.envfile import from_env_lines
from analyzer.runtime.schema import ConfigError

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from typing import Any

MAX_CONFIG_BYTES = 4 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class ConfigFile:
    """A config file's decoded document and the SHA-256 of its bytes."""

    __slots__ = ("document", "sha256")

    def __init__(self, document: Any, sha256: str) -> None:
        self.document = document
        self.sha256 = sha256


def read_bytes(path: str) -> bytes:
    """The file's bytes: refused unless it is a regular file, and read with a bound (a file
    whose size lies, such as a link to /dev/zero, is never read past the limit). A FIFO is
    refused before it is opened, and opening never waits for a writer."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError("not a regular file")
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read it ({exc.strerror or type(exc).__name__})") from exc
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # swapped since the check
            raise ConfigError("not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(descriptor, min(_CHUNK_BYTES, MAX_CONFIG_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read it ({exc.strerror or type(exc).__name__})") from exc
    finally:
        os.close(descriptor)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"more than {MAX_CONFIG_BYTES:,} bytes, more than a config can be")
    return b"".join(chunks)


def read_config_file(path: str) -> ConfigFile:
    """The decoded document of the config file at `path`, or ConfigError saying why not."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
        suffix = os.path.splitext(path)[1].lower()
        if suffix in (".yaml", ".yml"):
            import yaml  # only where the service has PyYAML; JSON needs nothing

            document = yaml.safe_load(text)
        elif suffix == ".env":
            document = from_env_lines(text)
        else:
            document = json.loads(text)
    except RecursionError as exc:
        raise ConfigError("nested too deeply") from exc
    except Exception as exc:  # not UTF-8, not JSON/YAML, bad env lines: never the value itself
        raise ConfigError(f"not a config file ({_first_line(exc)})") from exc
    import hashlib  # after the read: a service without a config never pays for it

    return ConfigFile(document, hashlib.sha256(data).hexdigest())


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
