"""Liveness, readiness and (optionally) Prometheus metrics over HTTP, served from a daemon thread.

`GET /livez` and `GET /readyz` answer 200 with `{"status": "ok", ...}` or 503 with the reason; what "live" and
"ready" mean is the process's own business, given as callables. Nothing here knows Temporal or SQS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app


@dataclass(frozen=True)
class Verdict:
    ok: bool
    state: str
    detail: str = ""


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds would flood the log
        pass


def parse_bind_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class HealthServer:
    def __init__(self, bind_address: str, live: Callable[[], Verdict], ready: Callable[[], Verdict],
                 registry: CollectorRegistry | None = None) -> None:
        self._live = live
        self._ready = ready
        self._metrics = make_wsgi_app(registry) if registry is not None else None
        host, port = parse_bind_address(bind_address)
        self._server = make_server(host, port, self._app, server_class=_ThreadingWsgiServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics" and self._metrics is not None:
            return self._metrics(environ, start_response)
        check = {"/livez": self._live, "/readyz": self._ready}.get(path)
        if check is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        verdict = check()
        body = json.dumps({"status": "ok" if verdict.ok else "unavailable", "state": verdict.state,
                           "detail": verdict.detail}).encode()
        start_response("200 OK" if verdict.ok else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
