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
    """One key whose value differs: old -> new, with the predicted timeout rate under each.
    `service` names the section it belongs to (None: the env default)."""

    service: str | None = None
    key: str
    old: float | str | None  # a breaker setting left out of a file: None, the runtime's default
    new: float | str | None
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


def _setting(value: float | str | None) -> float | str | None:
    """A breaker setting as compared: numbers as floats (3 and 3.0 are no change)."""
    return value if value is None or isinstance(value, str) else float(value)


def timeout_values(config: TimeoutConfig) -> dict[Key, float]:
    """The env default's timeouts."""
    return {(t.phase, t.operation, t.vpc_state): t.timeout_s for t in config.timeouts}


def own_values(config: TimeoutConfig, service: str) -> dict[Key, float]:
    """The timeouts of `service`'s own section (empty when it has none)."""
    section = (config.services or {}).get(service)
    if section is None:
        return {}
    return {(t.phase, t.operation, t.vpc_state): t.timeout_s for t in section.timeouts}


def section_names(*configs: TimeoutConfig) -> list[str]:
    """The services with a section in any of `configs`, by name."""
    return sorted({name for config in configs for name in config.services or {}})


def compared_values(
    deployed: TimeoutConfig, new: TimeoutConfig, service: str | None
) -> dict[Key, tuple[float | None, float | None]]:
    """The keys compared for `service` (None: the env default's, every key it holds in either
    file; a service: each key its section holds in either file), each with the value either
    file gives it as the service runs it (its own, else the default's; None: no value)."""
    old_values, new_values = timeout_values(deployed), timeout_values(new)
    keys = old_values.keys() | new_values.keys()
    if service is not None:
        old_own, new_own = own_values(deployed, service), own_values(new, service)
        keys = old_own.keys() | new_own.keys()
        old_values, new_values = {**old_values, **old_own}, {**new_values, **new_own}
    return {key: (old_values.get(key), new_values.get(key)) for key in sorted(keys)}


def key_name(key: Key) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}"


def _sources(config: TimeoutConfig, service: str | None) -> dict[Key, str | None]:
    if service is None:
        entries = config.timeouts
    else:
        section = (config.services or {}).get(service)
        entries = section.timeouts if section is not None else []
    return {(t.phase, t.operation, t.vpc_state): t.source for t in entries}


def _timeout_changes(
    deployed: TimeoutConfig,
    new: TimeoutConfig,
    service: str | None,
    min_change: MinChange,
    rates: dict[tuple[str | None, Key, float], float | None],
) -> list[Change]:
    """The env default's changes (service None), or a service's (see `compared_values`)."""
    sources = _sources(new, service)
    changes = []
    for key, (old, value) in compared_values(deployed, new, service).items():
        if old == value:
            continue
        changes.append(
            Change(
                service=service,
                key=key_name(key),
                old=old,
                new=value,
                source=sources.get(key),
                rate_old=rates.get((service, key, old)) if old is not None else None,
                rate_new=rates.get((service, key, value)) if value is not None else None,
                significant=min_change.counts(old, value),
            )
        )
    return changes


def diff_configs(
    deployed: TimeoutConfig,
    new: TimeoutConfig,
    *,
    min_change: MinChange,
    rates: dict[tuple[str | None, Key, float], float | None] | None = None,
) -> ConfigDiff:
    """Every timeout and breaker setting whose value differs (provenance is not compared):
    the env default's, then each service section's in either file, by name. `rates` are the
    predicted timeout rates by (service, or None for the default's, key, seconds)."""
    changes = _timeout_changes(deployed, new, None, min_change, rates or {})
    for service in section_names(deployed, new):
        changes += _timeout_changes(deployed, new, service, min_change, rates or {})
    for name in type(new.breaker).model_fields:
        old_setting = _setting(getattr(deployed.breaker, name))
        new_setting = _setting(getattr(new.breaker, name))
        if old_setting != new_setting:
            # a wait moves by --min-change; a count, a rate or a mode changes the rule itself
            timed = name.endswith("_s") and not isinstance(old_setting, str)
            changes.append(
                Change(
                    key=f"breaker/{name}",
                    old=old_setting,
                    new=new_setting,
                    significant=not timed
                    or min_change.counts(
                        old_setting if not isinstance(old_setting, str) else None,
                        new_setting if not isinstance(new_setting, str) else None,
                    ),
                )
            )
    return ConfigDiff(env=new.env, changes=changes, min_change=min_change)
