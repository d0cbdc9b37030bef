"""The lake's env-name rule as parameters of queries/normalised_entries.sql, so an env carried
in a payload is held to the same rule as `--env`."""

from __future__ import annotations

from analyzer.lake.store import ENV_NAME, REFUSED_ENV


def env_params() -> dict[str, str]:
    """The rule for queries/normalised_entries.sql ($env_pattern, $refused_env_pattern)."""
    return {"env_pattern": ENV_NAME.pattern, "refused_env_pattern": REFUSED_ENV.pattern}
