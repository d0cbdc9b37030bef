"""`analyze export --diff`: what a new config changes against the deployed one, key by key."""

from __future__ import annotations

from pydantic import BaseModel

from analyzer.deploy.model import TimeoutConfig

Key = tuple[int, str, str]


class MinChange(BaseModel):
    """A change counts when it is larger than both: `percent` of the old value and `seconds`."""

    percent: float = 10.0
    seconds: float = 2.0

    def counts(self, old: float | None, new: float | None) -> bool:
        if old is None or new is None:
            return old != new
        return abs(new - old) > max(self.seconds, abs(old) * self.percent / 100)


class Change(BaseModel):
    """One key whose value differs: old -> new, with the predicted timeout rate under each."""

    key: str
    old: float | None
    new: float | None
    source: str | None = None
    rate_old: float | None = None
    rate_new: float | None = None
    significant: bool


class ConfigDiff(BaseModel):
    env: str
    changes: list[Change]
    min_change: MinChange

    @property
    def significant(self) -> bool:
        return any(c.significant for c in self.changes)


def timeout_values(config: TimeoutConfig) -> dict[Key, float]:
    return {(t.phase, t.operation, t.vpc_state): t.timeout_s for t in config.timeouts}


def key_name(key: Key) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}"


def diff_configs(
    deployed: TimeoutConfig,
    new: TimeoutConfig,
    *,
    min_change: MinChange,
    rates: dict[tuple[Key, float], float | None] | None = None,
) -> ConfigDiff:
    """Every timeout and breaker setting whose value differs (provenance is not compared)."""
    old_values, new_values = timeout_values(deployed), timeout_values(new)
    sources = {(t.phase, t.operation, t.vpc_state): t.source for t in new.timeouts}
    found = rates or {}
    changes = []
    for key in sorted(old_values.keys() | new_values.keys()):
        old, value = old_values.get(key), new_values.get(key)
        if old == value:
            continue
        changes.append(
            Change(
                key=key_name(key),
                old=old,
                new=value,
                source=sources.get(key),
                rate_old=found.get((key, old)) if old is not None else None,
                rate_new=found.get((key, value)) if value is not None else None,
                significant=min_change.counts(old, value),
            )
        )
    for name in ("failure_threshold", "recovery_timeout_s", "half_open_max_calls"):
        old_setting = float(getattr(deployed.breaker, name))
        new_setting = float(getattr(new.breaker, name))
        if old_setting != new_setting:
            exact = name != "recovery_timeout_s"
            changes.append(
                Change(
                    key=f"breaker/{name}",
                    old=old_setting,
                    new=new_setting,
                    significant=exact or min_change.counts(old_setting, new_setting),
                )
            )
    return ConfigDiff(env=new.env, changes=changes, min_change=min_change)
