"""A local stand-in of the three Google APIs the VPC monitor reads, on 127.0.0.1 port 0,
written from their documented REST shapes:

- the metadata server's token (`GET /computeMetadata/v1/instance/service-accounts/default/token`,
  header `Metadata-Flavor: Google`; answers `{"access_token", "expires_in", "token_type"}`);
- Cloud Monitoring `timeSeries.list` (`GET /v3/projects/P/timeSeries?filter=...&interval.*`;
  answers `{"timeSeries": [TimeSeries], "nextPageToken"}`, points newest first, int64 values as
  JSON strings, distributions as `distributionValue` with `count` and `mean`);
- Serverless VPC Access `connectors.get` (`GET /v1/projects/P/locations/R/connectors/N`;
  answers the Connector: `name`, `state`, `minInstances`, `maxInstances`, `machineType`, ...).

Modes: `saturated` (at max instances, CPU 0.95), `pressure` (CPU 0.78, room to scale), `scaling`
(instances rising, CPU 0.4), `idle` (min instances, CPU 0.12), `failing` (HTTP 500), `forbidden`
(HTTP 403) and `hanging` (requests wait until the mode changes or the server stops).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROJECT, REGION, NAME = "acme-staging", "europe-west1", "db-connector"
CONNECTOR = f"projects/{PROJECT}/locations/{REGION}/connectors/{NAME}"
TOKEN = "ya29.stand-in-token"
MODES = ("saturated", "pressure", "scaling", "idle", "failing", "forbidden", "hanging")
# (instances oldest..newest, CPU utilisation, min, max instances) per healthy-answering mode
SHAPES: dict[str, tuple[list[int], float, int, int]] = {
    "saturated": ([3, 3, 3, 3], 0.95, 2, 3),
    "pressure": ([5, 5, 5, 5], 0.78, 2, 10),
    "scaling": ([2, 2, 3, 4], 0.40, 2, 10),
    "idle": ([2, 2, 2, 2], 0.12, 2, 10),
}


def _rfc3339(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int((seconds % 1) * 1e9):09d}Z"


class GoogleVpcApis:
    def __init__(self) -> None:
        self.mode = "idle"
        self.token = TOKEN  # the one access token the APIs take now (revoke() changes it)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.hung = threading.Event()  # set when a request starts hanging
        self._release = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._release:
            self.mode = mode
            self.hung.clear()
            self._release.notify_all()

    def revoke(self) -> None:
        """The token handed out so far stops working; the metadata server hands out a new one."""
        self.token = TOKEN + "-renewed"

    def environ(self) -> dict[str, str]:
        """The variables that point the runtime at this stand-in."""
        return {
            "ANALYZER_VPC_CONNECTOR": CONNECTOR,
            "GCE_METADATA_HOST": f"127.0.0.1:{self.port}",
            "ANALYZER_MONITORING_ENDPOINT": self.url,
            "ANALYZER_VPCACCESS_ENDPOINT": self.url,
        }

    # -- answers ---------------------------------------------------------------------------

    def _series(self, metric: str, now: float, page: str | None) -> dict[str, Any]:
        counts, cpu, _, _ = SHAPES[self.mode]
        ends = [now - 60.0 * (len(counts) - 1 - i) - 30.0 for i in range(len(counts))]
        resource = {
            "type": "vpc_access_connector",
            "labels": {"project_id": PROJECT, "location": REGION, "connector_name": NAME},
        }
        other_region = {
            "type": "vpc_access_connector",
            "labels": {"project_id": PROJECT, "location": "us-east4", "connector_name": NAME},
        }

        def series(kind: str, value_type: str, points: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "metric": {"type": metric, "labels": {}},
                "resource": resource,
                "metricKind": kind,
                "valueType": value_type,
                "points": points[::-1],  # newest first, as the API answers
            }

        if metric.endswith("/instances"):
            # two series (instance states), the second on its own page: the reader must page
            active = [
                {"interval": {"endTime": _rfc3339(e)}, "value": {"int64Value": str(c)}}
                for e, c in zip(ends, counts, strict=True)
            ]
            idle = [
                {"interval": {"endTime": _rfc3339(e)}, "value": {"int64Value": "0"}} for e in ends
            ]
            if page is None:
                return {"timeSeries": [series("GAUGE", "INT64", active)], "nextPageToken": "p2"}
            # a connector of the same name in another region: not this one's instances
            elsewhere = {**series("GAUGE", "INT64", active), "resource": other_region}
            return {"timeSeries": [series("GAUGE", "INT64", idle), elsewhere]}
        if metric.endswith("/cpu/utilizations"):
            points = [
                {
                    "interval": {"endTime": _rfc3339(e)},
                    "value": {
                        "distributionValue": {
                            "count": str(c),
                            "mean": cpu,
                            "bucketOptions": {
                                "linearBuckets": {"numFiniteBuckets": 10, "width": 0.1, "offset": 0}
                            },
                            "bucketCounts": ["0"] * 12,
                        }
                    },
                }
                for e, c in zip(ends, counts, strict=True)
            ]
            return {"timeSeries": [series("GAUGE", "DISTRIBUTION", points)]}
        if metric.endswith("_bytes_count"):
            points = [
                {
                    "interval": {"startTime": _rfc3339(e - 60.0), "endTime": _rfc3339(e)},
                    "value": {"int64Value": str(int(6e6 * cpu))},
                }
                for e in ends
            ]
            return {"timeSeries": [series("DELTA", "INT64", points)]}
        return {}

    def _connector(self) -> dict[str, Any]:
        _, _, low, high = SHAPES[self.mode]
        return {
            "name": CONNECTOR,
            "network": "default",
            "ipCidrRange": "10.8.0.0/28",
            "state": "READY",
            "minThroughput": low * 100,
            "maxThroughput": high * 100,
            "minInstances": low,
            "maxInstances": high,
            "machineType": "e2-micro",
        }

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Any:
        """(status, body) for a GET."""
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if headers.get("metadata-flavor") != "Google":
                return 403, {"error": "Missing Metadata-Flavor: Google header"}
            return 200, {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
        if self.mode == "failing":
            return 500, {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}
        if self.mode == "forbidden":
            return 403, {
                "error": {
                    "code": 403,
                    "message": "Permission monitoring.timeSeries.list denied",
                    "status": "PERMISSION_DENIED",
                }
            }
        if path == f"/v1/{CONNECTOR}":
            return 200, self._connector()
        if path == f"/v3/projects/{PROJECT}/timeSeries":
            found = re.search(r'metric\.type = "([^"]+)"', query.get("filter", [""])[0])
            required = ("interval.endTime", "interval.startTime")
            if found is None or not all(k in query for k in required):
                return 400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}
            page = query.get("pageToken", [None])[0]
            return 200, self._series(found.group(1), time.time(), page)
        return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                apis.requests.append((parsed.path, headers))
                with apis._release:
                    while apis.mode == "hanging" and not parsed.path.startswith("/computeMeta"):
                        apis.hung.set()
                        if not apis._release.wait(timeout=30):
                            return
                status, body = apis.answer(
                    parsed.path, urllib.parse.parse_qs(parsed.query), headers
                )
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (its timeout)

        return Handler


@contextmanager
def google_vpc_apis() -> Iterator[GoogleVpcApis]:
    apis = GoogleVpcApis()
    thread = threading.Thread(target=apis.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield apis
    finally:
        apis.set_mode("idle")  # lets hanging requests go
        apis.server.shutdown()
        apis.server.server_close()
