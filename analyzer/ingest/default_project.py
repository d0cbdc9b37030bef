"""The Google Cloud project `collect` reads when --project is not given: as gcloud and the
client libraries find it ($GOOGLE_CLOUD_PROJECT, $CLOUDSDK_CORE_PROJECT, gcloud's active
configuration)."""

from __future__ import annotations

import configparser
import os
from pathlib import Path


def default_project() -> tuple[str, str] | None:
    """(project, where it was found), or None when nothing names one."""
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        value = os.environ.get(name, "").strip()
        if value:
            return value, f"${name}"
    return _gcloud_configured_project()


def gcloud_config_dir() -> Path:
    """gcloud's configuration folder: $CLOUDSDK_CONFIG, else ~/.config/gcloud."""
    given = os.environ.get("CLOUDSDK_CONFIG", "").strip()
    return Path(given).expanduser() if given else Path.home() / ".config" / "gcloud"


def _gcloud_configured_project() -> tuple[str, str] | None:
    """core/project of gcloud's active configuration ($CLOUDSDK_ACTIVE_CONFIG_NAME, else the
    folder's `active_config`, else `default`)."""
    folder = gcloud_config_dir()
    active = os.environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "").strip()
    if not active:
        try:
            active = (folder / "active_config").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            active = ""
    path = folder / "configurations" / f"config_{active or 'default'}"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    project = parser.get("core", "project", fallback="").strip()
    return (project, f"gcloud configuration {path}") if project else None
