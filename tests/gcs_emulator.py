"""A local GCS stand-in for tests: gcp-storage-emulator on 127.0.0.1, with generation
preconditions added.

The emulator ignores `ifGenerationMatch`; GCS answers 412 Precondition Failed when the object's
generation is not the one given (0: when the object exists). That rule is added here in front of
its upload and delete handlers, so the store's create-only and compare-and-swap writes are
checked as GCS would check them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

BUCKET = "lake"


def _precondition_failed(request: Any, storage: Any, name: str | None) -> bool:
    wanted = request.query.get("ifGenerationMatch")
    if not wanted or name is None:
        return False
    try:
        current = int(storage.get_file_obj(request.params["bucket_name"], name)["generation"])
    except NotFound:
        current = 0
    return current != int(wanted[0])


def _upload_name(request: Any) -> str | None:
    if "name" in request.query:
        return str(request.query["name"][0])
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta") if "meta" in data else data
        if isinstance(meta, dict) and meta.get("name"):
            return str(meta["name"])
    return None


def _refuse(response: Any) -> None:
    response.status = HTTPStatus.PRECONDITION_FAILED
    response.json(
        {
            "error": {
                "code": 412,
                "message": "At least one of the pre-conditions you specified did not hold.",
                "errors": [{"reason": "conditionNotMet"}],
            }
        }
    )


def _guarded(handler: Any, name_of: Any) -> Any:
    def guarded(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        if _precondition_failed(request, storage, name_of(request)):
            return _refuse(response)
        return handler(request, response, storage, *args, **kwargs)

    return guarded


_GUARDS = {
    objects.insert: _guarded(objects.insert, _upload_name),
    objects.delete: _guarded(objects.delete, lambda r: r.params.get("object_id")),
}


def _install_guards() -> None:
    for _, handlers in emulator.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler in _GUARDS:
                handlers[method] = _GUARDS[handler]
    objects.insert = _GUARDS.get(objects.insert, objects.insert)


def start_emulator() -> tuple[Any, str]:
    """A running emulator with bucket `lake`, and its address for STORAGE_EMULATOR_HOST.

    It binds port 0 and reports the port the system gave it: a port found free first and bound
    after could be taken in between by another emulator starting on the host."""
    _install_guards()
    server = emulator.create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    _, port = server._api._httpd.server_address
    return server, f"http://127.0.0.1:{port}"


class FailingFront:
    """A local stand-in for a bucket that fails mid-push: an HTTP server on 127.0.0.1 that
    passes requests on to the emulator at `upstream` until `uploads_before_failing` uploads have
    passed, then fails every request as `how` says: "5xx" answers 503 Service Unavailable,
    "dying" closes the connection unanswered and stops listening (later connections are
    refused)."""

    def __init__(self, upstream: str, *, how: str, uploads_before_failing: int) -> None:
        import http.server
        import threading
        import urllib.parse

        assert how in ("5xx", "dying")
        self.how, self.uploads_left, self.failing = how, uploads_before_failing, False
        self.failed_requests = 0
        target = urllib.parse.urlsplit(upstream)
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                import http.client

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not front.failing and self.path.startswith("/upload/"):
                    front.uploads_left -= 1
                    front.failing = front.uploads_left < 0
                if front.failing:
                    front.failed_requests += 1
                    if front.how == "dying":
                        self.close_connection = True
                        threading.Thread(target=front.stop, daemon=True).start()
                        return
                    text = b'{"error": {"code": 503, "message": "Service Unavailable"}}'
                    self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()
