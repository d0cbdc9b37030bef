"""Which env names may become a partition of the lake: the lake's safe alphabet, less the
names a reader would take for something else."""

from __future__ import annotations

import re

from analyzer.errors import AnalyzerError
from analyzer.lake.store import ENV_NAME, check_env_name

# `.` and `..` read as folders of their own, and DuckDB's hive partitioning reads `env=NULL`
# back as a missing value.
REFUSED_ENV = re.compile(r"\.+|(?i:null)")


def check_partition_env(env: str) -> str:
    """`env`, if an import may write it as a partition; else a clear error."""
    check_env_name(env)
    if REFUSED_ENV.fullmatch(env):
        raise AnalyzerError(f"invalid env {env!r}: it would not read back as the env it names")
    return env


def env_params() -> dict[str, str]:
    """The same rule for queries/normalised_entries.sql ($env_pattern, $refused_env_pattern)."""
    return {"env_pattern": ENV_NAME.pattern, "refused_env_pattern": REFUSED_ENV.pattern}
