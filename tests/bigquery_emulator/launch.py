"""Starts bqemulator (in its own environment) without DuckDB's spatial extension.

The emulator loads the extension at start, downloading it on first use; with no network the
load fails and so would the start. GEOGRAPHY is the only thing it backs, and no query of ours
uses it. Run as: python launch.py start --rest-port N ... (bqemulator's own options)."""

import sys

from bqemulator.cli import main
from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
