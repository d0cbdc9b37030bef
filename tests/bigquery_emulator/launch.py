"""Starts bqemulator (in its own environment) without DuckDB's spatial extension, and with its
translations of GoogleSQL kept for the next run of the same text.

The emulator loads the extension at start, downloading it on first use; with no network the
load fails and so would the start. GEOGRAPHY is the only thing it backs, and no query of ours
uses it.

Each question of the engine is a dry run (the bytes it would scan) then the same statement as
a query, and the emulator translated the text anew each time: some fifteen passes of SQLGlot
over a statement of 15 to 20 KB, about half a second or more, where running it takes less.
A translation depends on the text, the catalog's schema and the caller only, so it is kept
under those and given again: the SQL that runs is the same.

Run as: python launch.py start --rest-port N ... (bqemulator's own options)."""

import sys
from typing import Any

from bqemulator.cli import main
from bqemulator.sql.translator import SQLTranslator
from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

_translate = SQLTranslator.translate
_translations: dict[str, Any] = {}


def _kept_translation(self: SQLTranslator, bq_sql: str, **kwargs: Any) -> Any:
    key = repr((bq_sql, sorted(kwargs.items(), key=lambda item: item[0])))
    if key not in _translations:
        _translations[key] = _translate(self, bq_sql, **kwargs)
    return _translations[key]


SQLTranslator.translate = _kept_translation  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
