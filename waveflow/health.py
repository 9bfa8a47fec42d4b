"""Health, in one place: the `/livez`, `/readyz` (and `/metrics`) endpoints each process serves from a daemon
thread, and the container's HEALTHCHECK that asks them.

What "live" and "ready" mean is each process's own business, given as callables (`worker.py`, `sqs_bridge.py`);
nothing here knows Temporal or SQS. `python -m waveflow.health` exits 0 when this container's process is live:
one image runs either the worker or the bridge, so it asks both processes' health addresses on loopback and is
satisfied by the first that answers 200 on /livez.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.error
import urllib.request
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


HEALTH_ADDRESSES = {"WORKER_HEALTH_BIND_ADDRESS": "0.0.0.0:9465", "BRIDGE_HEALTH_BIND_ADDRESS": "0.0.0.0:9466"}
TIMEOUT_SECONDS = 3.0


def health_urls(environ: dict[str, str], path: str = "/livez") -> list[str]:
    ports = [environ.get(name) or default for name, default in HEALTH_ADDRESSES.items()]
    return [f"http://127.0.0.1:{address.rsplit(':', 1)[1]}{path}" for address in ports if address]


def is_live(urls: list[str]) -> bool:
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            continue
    return False


if __name__ == "__main__":
    sys.exit(0 if is_live(health_urls(dict(os.environ), sys.argv[1] if len(sys.argv) > 1 else "/livez")) else 1)
