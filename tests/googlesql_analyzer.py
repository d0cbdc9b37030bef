"""Google's GoogleSQL analyzer (the `zetasql` package, a WebAssembly build of ZetaSQL) with a
catalog of the BigQuery tables the engine reads: it resolves every name and type of a query.

The WebAssembly module takes a minute or more to compile; wasmtime's own code cache keeps the
compiled module (in the user's cache folder), so later runs start in about a second."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from google.cloud.bigquery import SchemaField

from tests.bigquery_tables import lake_schema, log_analytics_schema, sink_schema

PARAMETERS = {
    "env": "TYPE_STRING",
    "default_env": "TYPE_STRING",
    "start": "TYPE_TIMESTAMP",
    "end": "TYPE_TIMESTAMP",
    "scan_start": "TYPE_TIMESTAMP",
    "scan_end": "TYPE_TIMESTAMP",
    "fetch_start": "TYPE_TIMESTAMP",
    "fetch_end": "TYPE_TIMESTAMP",
    "run_time": "TYPE_TIMESTAMP",  # a scheduled query's (analyze bigquery materialize)
}
ARRAY_PARAMETERS = {
    "services": "TYPE_STRING",
    "env_services": "TYPE_STRING",
    "envs": "TYPE_STRING",  # analyze bigquery materialize's
}  # name -> element type
# Two days' shards of a date-sharded sink (as the engine names them in its statements)
SHARDS = ("project.logs.stdout_20261120", "project.logs.stdout_20261121")
_KINDS = {
    "STRING": "TYPE_STRING",
    "FLOAT": "TYPE_DOUBLE",
    "TIMESTAMP": "TYPE_TIMESTAMP",
    "BOOLEAN": "TYPE_BOOL",
    "INTEGER": "TYPE_INT64",
    "INT64": "TYPE_INT64",
    "FLOAT64": "TYPE_DOUBLE",
    "JSON": "TYPE_JSON",
}


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "analyzer-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cache_compiled_module() -> None:
    """Keep the compiled module in wasmtime's cache (the package compiles it on every start)."""
    import wasmtime
    from zetasql.core import wasm_client

    toml = cache_dir() / "wasmtime.toml"
    toml.write_text(f'[cache]\ndirectory = "{cache_dir() / "wasmtime"}"\n')

    class CachedConfig(wasmtime.Config):
        def __init__(self) -> None:
            super().__init__()
            self.cache = str(toml)

    wasm_client.Config = CachedConfig  # type: ignore[misc]


def _type(field: SchemaField) -> Any:
    from zetasql.api import TypeFactory
    from zetasql.types import TypeKind

    if field.field_type == "RECORD":
        return TypeFactory.create_struct_type([(f.name, _type(f)) for f in field.fields])
    return TypeFactory.create_simple_type(getattr(TypeKind, _KINDS[field.field_type]))


def _table(name: str, schema: list[SchemaField]) -> Any:
    from zetasql.api import TableBuilder

    builder = TableBuilder(name)
    for field in schema:
        builder.add_column(field.name, _type(field))
    return builder.build()


class GoogleSqlAnalyzer:
    """Analyses one statement at a time against the sink and Log Analytics tables."""

    def __init__(self) -> None:
        _cache_compiled_module()
        from zetasql.api import Analyzer, CatalogBuilder, TypeFactory
        from zetasql.types import (
            AnalyzerOptions,
            LanguageOptions,
            TypeKind,
            ZetaSQLBuiltinFunctionOptions,
        )
        from zetasql.types.proto_model import ProductMode

        language = LanguageOptions.maximum_features()
        language.product_mode = ProductMode.PRODUCT_EXTERNAL  # BigQuery's: FLOAT64, INT64 only
        catalog = (
            CatalogBuilder("bigquery")
            # a sink table (its _PARTITIONTIME where partitioned by ingestion time)
            .add_table(
                _table("sink_table", [*sink_schema(), SchemaField("_PARTITIONTIME", "TIMESTAMP")])
            )
            # two days of a date-sharded sink: the newer without a jsonPayload column
            .add_table(_table(SHARDS[0], sink_schema()))
            .add_table(_table(SHARDS[1], sink_schema(with_json_payload=False)))
            .add_table(_table("log_analytics_table", log_analytics_schema()))
            .add_table(_table("lake_table", lake_schema()))
            .with_builtin_functions(ZetaSQLBuiltinFunctionOptions(language_options=language))
            .build()
        )
        options = AnalyzerOptions(language_options=language)
        options.query_parameters = [
            AnalyzerOptions.QueryParameter(
                name=name, type=TypeFactory.create_simple_type(getattr(TypeKind, kind))
            )
            for name, kind in PARAMETERS.items()
        ] + [
            AnalyzerOptions.QueryParameter(
                name=name,
                type=TypeFactory.create_array_type(
                    TypeFactory.create_simple_type(getattr(TypeKind, kind))
                ),
            )
            for name, kind in ARRAY_PARAMETERS.items()
        ]
        self._analyzer = Analyzer(options, catalog)

    def analyze(self, sql: str) -> Any:
        """The resolved statement; raises zetasql's error for anything GoogleSQL refuses."""
        return self._analyzer.analyze_statement(sql)
