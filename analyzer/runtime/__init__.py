"""What services import at startup: the timeout calculator, the circuit breaker and the
telemetry emitter. Standard library only, so it costs the startup it measures next to nothing.

A service that follows the seed switches by changing its imports:

    from analyzer.runtime import (
        get_capacity_aware_database_timeout, get_database_circuit_breaker,
        get_database_timeout_config,
    )
"""

from analyzer.runtime.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from analyzer.runtime.calculator import (
    CONFIG_ENV_VAR,
    STRICT_ENV_VAR,
    ConfigRefused,
    calculate_capacity_aware_timeout,
    current_vpc_state,
    get_capacity_aware_database_timeout,
    get_cloud_sql_optimized_config,
    get_database_circuit_breaker,
    get_database_timeout_config,
    get_vpc_connector_capacity_config,
    load_config,
    read_config,
    register_vpc_state_provider,
    reload_config,
    reset_runtime,
    timeout_for,
)
from analyzer.runtime.degradation import (
    DegradationManager,
    VpcCapacityState,
    get_degradation_manager,
    get_vpc_monitor,
    handle_startup_phase_failure,
)
from analyzer.runtime.emitter import CloudRunJsonFormatter, StartupTelemetry, emit
from analyzer.runtime.schema import ConfigError, RuntimeConfig, parse_config
from analyzer.runtime.telemetry import CONFIG_OUTCOMES, EVENTS, structured_payload, text_line

__all__ = [
    "CONFIG_ENV_VAR",
    "CONFIG_OUTCOMES",
    "EVENTS",
    "STRICT_ENV_VAR",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "CloudRunJsonFormatter",
    "ConfigError",
    "ConfigRefused",
    "DegradationManager",
    "RuntimeConfig",
    "StartupTelemetry",
    "VpcCapacityState",
    "calculate_capacity_aware_timeout",
    "current_vpc_state",
    "emit",
    "get_capacity_aware_database_timeout",
    "get_cloud_sql_optimized_config",
    "get_database_circuit_breaker",
    "get_database_timeout_config",
    "get_degradation_manager",
    "get_vpc_connector_capacity_config",
    "get_vpc_monitor",
    "handle_startup_phase_failure",
    "load_config",
    "parse_config",
    "read_config",
    "register_vpc_state_provider",
    "reload_config",
    "reset_runtime",
    "structured_payload",
    "text_line",
    "timeout_for",
]
