"""The built-in values: the seed's (Issue #1278 remediation), used when no config can be read."""

from __future__ import annotations

from analyzer.runtime.schema import BreakerSettings, RuntimeConfig

DATABASE_PHASE = 3

# Seed names of the database timeouts, and the contract's operation each one is.
TIMEOUT_KEYS = {
    "initialization_timeout": "initialization",
    "connection_timeout": "connection",
    "pool_timeout": "pool_checkout",
    "health_check_timeout": "health_check",
}

# Staging is the seed's; production runs the same; development and tests start quicker.
_BASE_TIMEOUTS_S = {
    "staging": {
        "initialization": 75.0,
        "connection": 35.0,
        "pool_checkout": 45.0,
        "health_check": 20.0,
    },
    "production": {
        "initialization": 75.0,
        "connection": 35.0,
        "pool_checkout": 45.0,
        "health_check": 20.0,
    },
    "development": {
        "initialization": 30.0,
        "connection": 15.0,
        "pool_checkout": 20.0,
        "health_check": 10.0,
    },
}
POOL = {
    "pool_size": 10.0,
    "max_overflow": 15.0,
    "pool_timeout": 90.0,
    "capacity_safety_margin": 0.8,
}
VPC: dict[str, float | bool] = {
    "monitoring_enabled": True,
    "capacity_aware_timeouts": True,
    "capacity_pressure_threshold": 0.7,
    "scaling_buffer_timeout": 20.0,
}
# Without a recommendation, a strained connector gets the seed's scaling buffer on top of the
# base timeout (twice over when critical); a healthy or unknown one gets the base.
BUFFERS = {"healthy": 0, "unknown": 0, "scaling": 1, "pressure": 1, "critical": 2}
BREAKER = BreakerSettings(failure_threshold=5, recovery_timeout_s=30.0, half_open_max_calls=1)


def base_timeouts(env: str) -> dict[str, float]:
    """The seed's base timeouts for `env` (staging's for an env it does not name). Shared:
    callers must not change it."""
    return _BASE_TIMEOUTS_S.get(env, _BASE_TIMEOUTS_S["staging"])


def default_config(env: str) -> RuntimeConfig:
    """The seed's values for `env` as a config: base timeouts plus the VPC buffer per state."""
    buffer_s = float(VPC["scaling_buffer_timeout"])
    timeouts = {
        (DATABASE_PHASE, operation, state): base + steps * buffer_s
        for operation, base in base_timeouts(env).items()
        for state, steps in BUFFERS.items()
    }
    return RuntimeConfig(
        env=env, timeouts=timeouts, breaker=BREAKER, pool=dict(POOL), vpc=dict(VPC)
    )
