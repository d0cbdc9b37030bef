"""Starts bqemulator (in its own environment) without DuckDB's spatial extension, and with its
translations and parses of SQL kept for the next request of the same text.

The emulator loads the extension at start, downloading it on first use; with no network the
load fails and so would the start. GEOGRAPHY is the only thing it backs, and no query of ours
uses it.

Each question of the engine is a dry run (the bytes it would scan) then the same statement as
a query, and the emulator translated the text anew each time: some fifteen passes of SQLGlot
over a statement of 15 to 20 KB, about half a second or more, where running it takes less.
A translation depends on the text, the catalog's schema and the caller only, so it is kept
under those and given again: the SQL that runs is the same.

The emulator also parses the same text again in a dozen places on each request (DDL
detection, statement classification, table references, row access): each SQLGlot parse of the
same text, under the same dialect and options, is kept too, and every caller gets its own copy
of the tree (a copy costs a seventh of a parse), so what one caller changes no other sees.

Started with `--rest-port 0 --grpc-port 0`, the emulator binds ports the system chooses; once it
accepts requests this prints `LISTENING REST_PORT` on standard output, so whoever started it
learns the port from the emulator itself (a port found free first and bound after could be taken
in between by another emulator starting on the host).

A dry run executes the statement too (to learn the result's schema), and the engine asks
each question as a dry run then the same query at once: the dry run's result is kept for the
one request that follows it, and given to that request only if it is the same statement with
the same parameters, from the same caller (no table changes in between: the engine only
reads). Any other request drops it, so nothing older than the request before is ever given.

Run as: python launch.py start --rest-port 0 ... (bqemulator's own options)."""

import contextvars
import sys
from typing import Any

from bqemulator.api.routes import jobs as jobs_routes
from bqemulator.cli import main
from bqemulator.jobs import executor
from bqemulator.server import EmulatorServer
from bqemulator.sql.translator import SQLTranslator
from bqemulator.storage import engine
from sqlglot.dialects.dialect import Dialect

engine.DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

_start = EmulatorServer.start


async def _start_and_report(self: EmulatorServer) -> None:
    await _start(self)
    print(f"LISTENING {self.rest_port}", flush=True)


EmulatorServer.start = _start_and_report  # type: ignore[method-assign]

_translate = SQLTranslator.translate
_translations: dict[str, Any] = {}


def _kept_translation(self: SQLTranslator, bq_sql: str, **kwargs: Any) -> Any:
    key = repr((bq_sql, sorted(kwargs.items(), key=lambda item: item[0])))
    if key not in _translations:
        _translations[key] = _translate(self, bq_sql, **kwargs)
    return _translations[key]


SQLTranslator.translate = _kept_translation  # type: ignore[method-assign]

_parse = Dialect.parse
_trees: dict[str, list[Any]] = {}


def _kept_parse(self: Dialect, sql: str, **opts: Any) -> list[Any]:
    key = repr((type(self).__qualname__, vars(self), sql, sorted(opts.items())))
    if key not in _trees:
        _trees[key] = _parse(self, sql, **opts)  # a parse error is raised, never kept
    return [tree.copy() if tree is not None else None for tree in _trees[key]]


Dialect.parse = _kept_parse  # type: ignore[method-assign]

_in_dry_run: contextvars.ContextVar[bool] = contextvars.ContextVar("in_dry_run", default=False)
_dry_result: dict[str, Any] = {}  # at most one: the last dry run's, by its statement
_dry_run_response = jobs_routes._dry_run_response
_run_query_body = executor._run_query_body


async def _dry_run_kept(**kwargs: Any) -> Any:
    token = _in_dry_run.set(True)
    try:
        return await _dry_run_response(**kwargs)
    finally:
        _in_dry_run.reset(token)


async def _query_body_once(**kwargs: Any) -> Any:
    caller = kwargs.get("effective_caller")
    key = repr(
        (
            kwargs.get("project_id"),
            kwargs.get("bq_sql"),
            kwargs.get("query_params"),
            kwargs.get("is_scripted"),
            getattr(caller, "principal", None),
        )
    )
    kept = _dry_result.pop(key, None)
    _dry_result.clear()
    if _in_dry_run.get():
        table = await _run_query_body(**kwargs)
        _dry_result[key] = table
        return table
    if kept is not None:
        return kept
    return await _run_query_body(**kwargs)


jobs_routes._dry_run_response = _dry_run_kept  # type: ignore[assignment]
executor._run_query_body = _query_body_once  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(main())
