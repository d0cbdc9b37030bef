"""The built-in VPC connector monitor: reads the connector's Cloud Monitoring metrics and its
instance limits in a background thread and says which telemetry state it is in.

Turned on by `$ANALYZER_VPC_CONNECTOR` (`projects/P/locations/REGION/connectors/NAME`) or the
config's `vpc.connector`. Check the wiring from inside a container with

    python -m analyzer.runtime.vpc

The request path only reads the last classified reading (no lock held across I/O, no network);
HTTP happens in a daemon thread, every call with a timeout. `urllib` is imported there, not at
import, so `import analyzer.runtime` stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref

from analyzer.runtime.schema import VPC_MONITOR_DEFAULTS, ConfigError, connector_problem

TYPE_CHECKING = False  # typing costs the service's startup ~10 ms; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

CONNECTOR_ENV_VAR = "ANALYZER_VPC_CONNECTOR"
MONITORING_ENDPOINT_ENV_VAR = "ANALYZER_MONITORING_ENDPOINT"
VPCACCESS_ENDPOINT_ENV_VAR = "ANALYZER_VPCACCESS_ENDPOINT"
METADATA_HOST_ENV_VAR = "GCE_METADATA_HOST"  # as google-auth reads it: host[:port]
MONITORING_ENDPOINT = "https://monitoring.googleapis.com"
VPCACCESS_ENDPOINT = "https://vpcaccess.googleapis.com"
METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"

# The connector's metrics (Cloud Monitoring, resource type vpc_access_connector): instances is a
# GAUGE of INT64 (one series per instance state label), cpu/utilizations a GAUGE of
# DISTRIBUTION over the connector's instances (fractions, 1 = 100 %), the byte counts DELTA INT64.
METRIC_PREFIX = "vpcaccess.googleapis.com/connector/"
INSTANCES = METRIC_PREFIX + "instances"
CPU = METRIC_PREFIX + "cpu/utilizations"
RECEIVED_BYTES = METRIC_PREFIX + "received_bytes_count"
SENT_BYTES = METRIC_PREFIX + "sent_bytes_count"
MAX_PAGES = 5  # timeSeries.list pages per metric: a connector has a handful of series
MAX_BODY_BYTES = 4 * 1024 * 1024

UNKNOWN = "unknown"
SOURCE_PROVIDER, SOURCE_MONITOR, SOURCE_NONE = "provider", "monitor", "none"

log = logging.getLogger("analyzer.runtime")


class VpcApiError(Exception):
    """A Google API could not be read (the message says which and why; `status`: the HTTP
    status when it answered one)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VpcMonitorSettings:
    """What the monitor reads and how it classifies (VPC_MONITOR_DEFAULTS for the rest)."""

    __slots__ = ("connector", "pressure_threshold", *VPC_MONITOR_DEFAULTS)

    def __init__(
        self,
        connector: str,
        *,
        pressure_threshold: float = 0.7,
        critical_cpu_threshold: float = 0.9,
        refresh_every_s: float = 30.0,
        stale_after_s: float = 90.0,
        http_timeout_s: float = 5.0,
        refresh_deadline_s: float = 12.0,
        lookback_s: float = 600.0,
    ) -> None:
        problem = connector_problem(connector)
        if problem:
            raise ConfigError(problem)
        self.connector = connector
        self.pressure_threshold = pressure_threshold
        self.critical_cpu_threshold = critical_cpu_threshold
        self.refresh_every_s = refresh_every_s
        self.stale_after_s = stale_after_s
        self.http_timeout_s = http_timeout_s
        self.refresh_deadline_s = refresh_deadline_s
        self.lookback_s = lookback_s

    @property
    def parts(self) -> tuple[str, str, str]:
        """(project, region, connector name)."""
        _, project, _, region, _, name = self.connector.split("/")
        return project, region, name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VpcMonitorSettings) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"VpcMonitorSettings({shown})"


def monitor_settings(
    vpc: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> VpcMonitorSettings | None:
    """The monitor's settings from a config's `vpc` block and the environment
    (`$ANALYZER_VPC_CONNECTOR` over `vpc.connector`); None when it is not wired or turned off
    (`vpc.monitoring_enabled: false`). Raises ConfigError for a connector that is not
    `projects/P/locations/REGION/connectors/NAME`."""
    env = os.environ if environ is None else environ
    connector = (env.get(CONNECTOR_ENV_VAR) or "").strip() or vpc.get("connector")
    if not connector or vpc.get("monitoring_enabled") is False:
        return None
    options = {name: vpc[name] for name in VPC_MONITOR_DEFAULTS if name in vpc}
    if "capacity_pressure_threshold" in vpc:
        options["pressure_threshold"] = vpc["capacity_pressure_threshold"]
    return VpcMonitorSettings(str(connector), **options)


class VpcReading:
    """One read of the connector: the numbers behind the state, and the state they give."""

    __slots__ = (
        "at",
        "connector_state",
        "cpu_utilization",
        "instances",
        "instances_at_start",
        "max_instances",
        "min_instances",
        "newest_point_age_s",
        "read_at",
        "reason",
        "state",
        "throughput_bytes_per_s",
    )

    def __init__(
        self,
        *,
        instances: float,
        instances_at_start: float,
        cpu_utilization: float,
        min_instances: int | None,
        max_instances: int | None,
        connector_state: str | None,
        throughput_bytes_per_s: float | None,
        newest_point_age_s: float,
        at: float = 0.0,
        read_at: float | None = None,
    ) -> None:
        self.instances = instances
        self.instances_at_start = instances_at_start
        self.cpu_utilization = cpu_utilization
        self.min_instances = min_instances
        self.max_instances = max_instances
        self.connector_state = connector_state
        self.throughput_bytes_per_s = throughput_bytes_per_s
        self.newest_point_age_s = newest_point_age_s
        self.at = at  # the monitor's clock when the read began
        self.read_at = time.time() if read_at is None else read_at
        self.state = UNKNOWN
        self.reason = "not classified"

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "at"}


def classify(reading: VpcReading, settings: VpcMonitorSettings) -> tuple[str, str]:
    """The state a reading means, and why. The first rule that holds:

    1. critical: the connector reports state ERROR, or it runs at its max instances (no room to
       scale out) with CPU at or over `critical_cpu_threshold` (0.9);
    2. pressure: CPU at or over `capacity_pressure_threshold` (the seed's 0.7);
    3. scaling: the instance count rose within the look-back window (the autoscaler is adding
       instances) while CPU is under the pressure threshold;
    4. healthy: otherwise.
    """
    cpu = reading.cpu_utilization
    at_max = reading.max_instances is not None and reading.instances >= reading.max_instances
    limit = f"{reading.instances:g} of max {reading.max_instances}"
    if reading.connector_state == "ERROR":
        return "critical", "the connector reports state ERROR"
    if at_max and cpu >= settings.critical_cpu_threshold:
        return "critical", (
            f"at max instances ({limit}) with CPU {cpu:.2f} >= {settings.critical_cpu_threshold:g}"
        )
    if cpu >= settings.pressure_threshold:
        return "pressure", f"CPU {cpu:.2f} >= {settings.pressure_threshold:g} ({limit} instances)"
    if reading.instances > reading.instances_at_start:
        return "scaling", (
            f"instances rose from {reading.instances_at_start:g} to {reading.instances:g} "
            f"(max {reading.max_instances}) with CPU {cpu:.2f}"
        )
    return "healthy", f"CPU {cpu:.2f} < {settings.pressure_threshold:g} ({limit} instances)"


# ---- the three APIs, read with the standard library ------------------------------------------


class Endpoints:
    """Where the three APIs are: Google's, or what the environment says (tests, private access)."""

    __slots__ = ("metadata", "monitoring", "vpcaccess")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        host = (env.get(METADATA_HOST_ENV_VAR) or METADATA_HOST).strip().rstrip("/")
        self.metadata = host if "://" in host else f"http://{host}"
        self.monitoring = (env.get(MONITORING_ENDPOINT_ENV_VAR) or MONITORING_ENDPOINT).rstrip("/")
        self.vpcaccess = (env.get(VPCACCESS_ENDPOINT_ENV_VAR) or VPCACCESS_ENDPOINT).rstrip("/")


def _get_json(
    url: str, headers: dict[str, str], timeout_s: float, what: str, *, direct: bool = False
) -> Any:
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    # The metadata server is never reached through a proxy.
    handlers = [urllib.request.ProxyHandler({})] if direct else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
        message = f"{what}: HTTP {exc.code} {exc.reason}: {detail[:200]}"
        raise VpcApiError(message, exc.code) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise VpcApiError(f"{what}: {type(reason).__name__}: {reason} ({url})") from None
    if len(body) > MAX_BODY_BYTES:
        raise VpcApiError(f"{what}: answer larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise VpcApiError(f"{what}: answer is not JSON") from None


class _Deadline:
    """A refresh's time budget: each call gets the smaller of its timeout and what is left."""

    def __init__(self, settings: VpcMonitorSettings) -> None:
        self.settings = settings
        self.ends = time.monotonic() + settings.refresh_deadline_s

    def timeout_s(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise VpcApiError(f"refresh took over {self.settings.refresh_deadline_s:g} s")
        return min(self.settings.http_timeout_s, left)


class ConnectorReader:
    """Reads one connector through the three APIs; keeps the metadata server's token."""

    def __init__(self, settings: VpcMonitorSettings, endpoints: Endpoints | None = None) -> None:
        self.settings = settings
        self.endpoints = endpoints or Endpoints()
        self._token: str | None = None
        self._token_until = 0.0

    def _auth(self, deadline: _Deadline) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_until:
            answer = _get_json(
                self.endpoints.metadata + TOKEN_PATH,
                {"Metadata-Flavor": "Google"},
                deadline.timeout_s(),
                "metadata server token",
                direct=True,
            )
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise VpcApiError("metadata server token: no access_token in the answer")
            expires_in = answer.get("expires_in")
            life_s = float(expires_in) if isinstance(expires_in, int | float) else 300.0
            self._token, self._token_until = token, time.monotonic() + max(0.0, life_s - 60.0)
        return {"Authorization": f"Bearer {self._token}"}

    def connector(self, deadline: _Deadline) -> dict[str, Any]:
        """connectors.get: the connector's resource (minInstances, maxInstances, state)."""
        url = f"{self.endpoints.vpcaccess}/v1/{self.settings.connector}"
        answer = _get_json(url, self._auth(deadline), deadline.timeout_s(), "VPC Access API")
        if not isinstance(answer, dict):
            raise VpcApiError("VPC Access API: the connector is not a JSON object")
        return answer

    def series(self, metric: str, deadline: _Deadline, now: float) -> list[dict[str, Any]]:
        """timeSeries.list of one metric of the connector over the look-back window."""
        import urllib.parse

        project, region, name = self.settings.parts
        query = {
            "filter": (
                f'metric.type = "{metric}" AND resource.type = "vpc_access_connector" '
                f'AND resource.labels.connector_name = "{name}"'
            ),
            "interval.startTime": _rfc3339(now - self.settings.lookback_s),
            "interval.endTime": _rfc3339(now),
            "view": "FULL",
        }
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            url = (
                f"{self.endpoints.monitoring}/v3/projects/{project}/timeSeries?"
                + urllib.parse.urlencode(query)
            )
            answer = _get_json(
                url, self._auth(deadline), deadline.timeout_s(), f"Monitoring API ({metric})"
            )
            if not isinstance(answer, dict):
                raise VpcApiError(f"Monitoring API ({metric}): the answer is not a JSON object")
            page = answer.get("timeSeries") or []
            # A connector's name is unique in its region only: a series that names another
            # region is another connector's.
            found.extend(s for s in page if isinstance(s, dict) and _in_region(s, region))
            token = answer.get("nextPageToken")
            if not token:
                break
            query["pageToken"] = str(token)
        return found

    def read(self) -> VpcReading:
        """One reading, classified; raises VpcApiError when an API fails or has no data."""
        try:
            return self._read()
        except VpcApiError as exc:
            if exc.status == 401:  # a token revoked or expired early: the next read gets one
                self._token = None
            raise

    def _read(self) -> VpcReading:
        deadline = _Deadline(self.settings)
        now = time.time()
        resource = self.connector(deadline)
        instances = _points(self.series(INSTANCES, deadline, now), INSTANCES)
        cpu = _points(self.series(CPU, deadline, now), CPU)
        sent = _points(self.series(SENT_BYTES, deadline, now), SENT_BYTES, required=False)
        received = _points(
            self.series(RECEIVED_BYTES, deadline, now), RECEIVED_BYTES, required=False
        )
        newest = max(series[0][0] for series in (*instances, *cpu))
        reading = VpcReading(
            instances=sum(series[0][2] for series in instances),
            instances_at_start=sum(series[-1][2] for series in instances),
            cpu_utilization=min(1.0, max(0.0, _cpu_now(cpu))),
            min_instances=_instances_limit(resource, "min"),
            max_instances=_instances_limit(resource, "max"),
            connector_state=resource.get("state")
            if isinstance(resource.get("state"), str)
            else None,
            throughput_bytes_per_s=_rate(sent + received),
            newest_point_age_s=max(0.0, now - newest),
            read_at=now,
        )
        reading.state, reading.reason = classify(reading, self.settings)
        return reading


def _in_region(series: dict[str, Any], region: str) -> bool:
    resource = series.get("resource")
    labels = resource.get("labels") if isinstance(resource, dict) else None
    location = labels.get("location") if isinstance(labels, dict) else None
    return location is None or location == region


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _instant(text: Any) -> float:
    from datetime import datetime

    if not isinstance(text, str):
        raise ValueError("no time")
    if "." in text:  # nanoseconds, as Google writes them: keep microseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _value(value: Any) -> tuple[float, float] | None:
    """(value, weight) of a TypedValue: int64 (a JSON string), double, or a distribution's mean
    weighted by its count."""
    if not isinstance(value, dict):
        return None
    if "distributionValue" in value:
        dist = value["distributionValue"]
        count = float(dist.get("count", 0) or 0) if isinstance(dist, dict) else 0.0
        mean = dist.get("mean", 0.0) if isinstance(dist, dict) else 0.0
        return (float(mean), count) if count > 0 else None
    for key in ("doubleValue", "int64Value"):
        if key in value:
            return float(value[key]), 1.0
    return None


Point = tuple[float, float, float, float]  # (end, start, value, weight), times in epoch seconds


def _points(
    series: list[dict[str, Any]], metric: str, *, required: bool = True
) -> list[list[Point]]:
    """Each series' readable points, newest first (a distribution's weight is its count)."""
    found = []
    for one in series:
        points = []
        for point in one.get("points") or []:
            try:
                interval = point["interval"]
                end = _instant(interval["endTime"])
                start = _instant(interval.get("startTime", interval["endTime"]))
                value = _value(point.get("value"))
            except (KeyError, TypeError, ValueError):
                continue
            if value is not None:
                points.append((end, start, value[0], value[1]))
        if points:
            found.append(sorted(points, reverse=True))
    if required and not found:
        raise VpcApiError(f"Monitoring API: no points of {metric} in the look-back window")
    return found


def _cpu_now(series: list[list[Point]]) -> float:
    """The newest CPU utilisation: each series' newest mean, weighted by its instance count."""
    total = weight = 0.0
    for points in series:
        _, _, mean, count = points[0]
        total += mean * count
        weight += count
    return total / weight if weight else 0.0


def _rate(series: list[list[Point]]) -> float | None:
    """Bytes a second over the delta points (sent and received together)."""
    points = [p for s in series for p in s]
    if not points:
        return None
    span_s = max(p[0] for p in points) - min(p[1] for p in points)
    return sum(p[2] for p in points) / span_s if span_s > 0 else None


def _instances_limit(resource: dict[str, Any], which: str) -> int | None:
    """minInstances/maxInstances; for a connector sized by throughput only, its Mbps / 100
    (one e2-micro instance per 100 Mbps)."""
    value = resource.get(f"{which}Instances")
    if isinstance(value, int | float) and value > 0:
        return int(value)
    mbps = resource.get(f"{which}Throughput")
    return int(mbps) // 100 if isinstance(mbps, int | float) and mbps > 0 else None


# ---- the monitor -------------------------------------------------------------------------------

_MONITORS: weakref.WeakSet[VpcStateMonitor] = weakref.WeakSet()
_FORK_HOOK = threading.Lock()
_fork_hooked = False


def _after_fork_in_child() -> None:
    for monitor in list(_MONITORS):
        monitor._forked()


class VpcStateMonitor:
    """The connector's state, refreshed every `refresh_every_s` by a daemon thread started on
    first use (or by `start()`). `state()` never blocks: it gives the last reading's state, or
    `unknown` when there is none yet, it is older than `stale_after_s`, the last refresh failed,
    or a refresh has run past `refresh_deadline_s`. One warning per outage, one line when it
    recovers; a `vpc_state_changed` event on each change. A process forked from one with a
    running monitor starts its own thread on its first use."""

    def __init__(
        self,
        settings: VpcMonitorSettings,
        *,
        env: str | None = None,
        reader: Callable[[], VpcReading] | None = None,
        on_change: Callable[[str, str, VpcReading | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.env = env
        self._reader = reader or ConnectorReader(settings).read
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reading: VpcReading | None = None
        self._error: str | None = "no reading yet"
        self._tried = threading.Event()  # set when a refresh has ended, well or not
        self._refresh_began: float | None = None
        self._outage = False
        self._reported = UNKNOWN
        global _fork_hooked
        with _FORK_HOOK:
            if not _fork_hooked:
                os.register_at_fork(after_in_child=_after_fork_in_child)
                _fork_hooked = True
        _MONITORS.add(self)

    # -- the request path: reads only ----------------------------------------------------------

    def state(self) -> str:
        """The connector's state now (starts the thread on first use; never waits on it)."""
        if self._thread is None:  # (a thread that died leaves its reading to go stale)
            self.start()
        return self._judge()[0]

    def why(self) -> str:
        """Why `state()` says what it says."""
        return self._judge()[1]

    @property
    def reading(self) -> VpcReading | None:
        return self._reading

    def _judge(self) -> tuple[str, str]:
        now = self._clock()
        began = self._refresh_began
        if began is not None and now - began > self.settings.refresh_deadline_s:
            self._down(f"a refresh has run for over {self.settings.refresh_deadline_s:g} s")
            return UNKNOWN, f"the APIs hang (a refresh has run {now - began:.1f} s)"
        reading, error = self._reading, self._error
        if error is not None or reading is None:
            return UNKNOWN, error or "no reading yet"
        age_s = now - reading.at
        if age_s > self.settings.stale_after_s:
            return UNKNOWN, (
                f"the last reading is {age_s:.0f} s old (over {self.settings.stale_after_s:g} s)"
            )
        return reading.state, reading.reason

    # -- the background thread -----------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="analyzer-vpc-monitor", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None  # a later lookup starts a new one
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=0.5)

    def wait_for_reading(self, timeout_s: float) -> bool:
        """Start if needed and wait up to `timeout_s` for a first reading or failure (for a
        service that would rather spend a moment at startup than start on `unknown`)."""
        self.state()
        self._tried.wait(timeout_s)
        return self._reading is not None and self._error is None

    def refresh(self) -> None:
        """Read the connector once now (the thread's work; callable from tests and the CLI)."""
        began = self._clock()
        self._refresh_began = began
        try:
            reading = self._reader()
        except VpcApiError as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug or a surprise answer: still unknown, never a crash
            self._fail(f"{type(exc).__name__}: {exc}")
        else:
            reading.at = began
            self._reading, self._error = reading, None
            if self._outage:
                self._outage = False
                log.warning(
                    "VPC monitor: connector %s readable again; state %s (%s)",
                    self.settings.connector,
                    reading.state,
                    reading.reason,
                )
            self._report(reading.state, reading)
        finally:
            self._refresh_began = None
            self._tried.set()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            last = self._reading
            due_s = 0.0 if last is None else last.at + self.settings.refresh_every_s - self._clock()
            if due_s > 0 and stop.wait(due_s):  # a fresh reading (a refresh() call, a fork)
                return
            self.refresh()
            if stop.wait(self.settings.refresh_every_s):
                return

    def _fail(self, error: str) -> None:
        self._error = error
        self._down(error)
        self._report(UNKNOWN, None)

    def _down(self, error: str) -> None:
        with self._lock:
            first, self._outage = not self._outage, True
        if first:
            log.warning(
                "VPC monitor: cannot read connector %s (%s); the VPC state is unknown until "
                "it recovers",
                self.settings.connector,
                error,
            )

    def _report(self, state: str, reading: VpcReading | None) -> None:
        before, self._reported = self._reported, state
        if before != state and self._on_change is not None:
            try:
                self._on_change(before, state, reading)
            except Exception:
                log.exception("VPC monitor: state change hook failed")

    def _forked(self) -> None:
        # The parent's thread did not come along; the next state() starts the child's own.
        self._lock = threading.Lock()
        self._thread = None
        tried, self._tried = self._tried.is_set(), threading.Event()
        if tried:
            self._tried.set()
        self._refresh_began = None

    def status(self) -> dict[str, Any]:
        """The state, why, and the reading behind it (for the CLI check and for logs)."""
        state, why = self._judge()
        reading = self._reading
        return {
            "connector": self.settings.connector,
            "state": state,
            "why": why,
            "reading": reading.fields() if reading is not None else None,
            "reading_age_s": None if reading is None else round(self._clock() - reading.at, 3),
            "stale_after_s": self.settings.stale_after_s,
            "refresh_every_s": self.settings.refresh_every_s,
        }


def emit_state_change(env: str | None) -> Callable[[str, str, VpcReading | None], None]:
    """A hook that logs the contract's `vpc_state_changed` event for each change, with the
    connector's instances and max instances at the reading (so `analyze capacity` can tell a
    connector at its max while strained)."""

    def hook(before: str, after: str, reading: VpcReading | None) -> None:
        from analyzer.runtime.emitter import emit

        emit(
            "vpc_state_changed",
            env=env,
            from_state=before,
            to_state=after,
            vpc_state=after,
            vpc_utilization=reading.cpu_utilization if reading is not None else None,
            vpc_instances=reading.instances if reading is not None else None,
            vpc_max_instances=reading.max_instances if reading is not None else None,
            vpc_state_source=SOURCE_MONITOR,
        )

    return hook


def main(argv: list[str] | None = None) -> int:
    """`python -m analyzer.runtime.vpc`: read the connector once and print the state and the
    readings behind it; exit 1 when the wiring is missing or the APIs fail. Example:
    python -m analyzer.runtime.vpc --json"""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m analyzer.runtime.vpc",
        description="Read the VPC connector's state now, as the runtime's monitor does. "
        "Example: ANALYZER_VPC_CONNECTOR=projects/p/locations/europe-west1/connectors/c "
        "python -m analyzer.runtime.vpc",
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--env", help="the env whose config to read (default: $ENVIRONMENT)")
    args = parser.parse_args(argv)
    from analyzer.runtime import calculator

    try:
        settings = calculator.vpc_monitor_settings(args.env)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 1
    if settings is None:
        print(
            f"error: the VPC monitor is not wired: set ${CONNECTOR_ENV_VAR} "
            "(projects/P/locations/REGION/connectors/NAME) or vpc.connector in the config "
            f"(${calculator.CONFIG_ENV_VAR}), and leave vpc.monitoring_enabled on"
        )
        return 1
    monitor = VpcStateMonitor(settings)
    monitor.refresh()
    status = monitor.status()
    if monitor.reading is None:
        print(f"error: cannot read connector {settings.connector}: {status['why']}")
        return 1
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        print(f"connector: {status['connector']}")
        print(f"state: {status['state']} ({status['why']})")
        print(_readings_text(monitor.reading))
    return 0


def _readings_text(reading: VpcReading) -> str:
    """The readings behind a state, one a line, for a person."""
    rate = reading.throughput_bytes_per_s
    lines = {
        "instances": (
            f"{reading.instances:g} (at the window's start {reading.instances_at_start:g}; "
            f"min {reading.min_instances}, max {reading.max_instances})"
        ),
        "cpu_utilization": f"{reading.cpu_utilization:.3f}",
        "throughput": "no data" if rate is None else f"{rate * 8 / 1e6:.2f} Mbit/s",
        "connector_state": str(reading.connector_state),
        "newest_point": (
            f"{reading.newest_point_age_s:.0f} s old (read at "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(reading.read_at))})"
        ),
    }
    return "\n".join(f"  {name}: {value}" for name, value in lines.items())


if __name__ == "__main__":
    raise SystemExit(main())
