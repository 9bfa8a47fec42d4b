"""A small fault-injecting HTTP proxy in front of moto: S3 throttling (500/503), cut downloads, slow transfers."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from devstack.processes import LOOPBACK, LoopbackHttpServer

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                  b"<Message>We encountered an internal error. Please try again.</Message></Error>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Faults:
    """What the proxy does to the next requests; each list is consumed one request at a time."""

    get_statuses: list[int] = field(default_factory=list)
    cut_get_after_bytes: list[int] = field(default_factory=list)
    get_bytes_per_second: float | None = None
    put_delays: dict[str, list[float]] = field(default_factory=dict)
    """Key prefix → seconds to hold matching PUTs."""
    get_delays: list[float] = field(default_factory=list)
    """Seconds to hold the next GET requests before the first byte."""


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.faults = Faults()
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Condition()
        self._active: dict[str, int] = {}
        self._server = LoopbackHttpServer(self._handler_class(), "fault-proxy")

    @property
    def url(self) -> str:
        return self._server.base_url

    def start(self) -> FaultProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def wait_until_active(self, method: str, timeout: float = 60.0, count: int = 1) -> None:
        """Until `count` requests of that method are in the proxy at once."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._active.get(method, 0) >= count, timeout):
                raise TimeoutError(f"fewer than {count} {method} through the proxy after {timeout} s")

    def _take(self, method: str, path: str) -> tuple[int | None, int | None, float]:
        with self._lock:
            faults = self.faults
            status = cut = None
            delay = 0.0
            if method == "GET" and faults.get_statuses:
                status = faults.get_statuses.pop(0)
            elif method == "GET" and faults.cut_get_after_bytes:
                cut = faults.cut_get_after_bytes.pop(0)
            elif method == "GET" and faults.get_delays:
                delay = faults.get_delays.pop(0)
            if method == "PUT":
                for prefix, delays in faults.put_delays.items():
                    if prefix in path and delays:
                        delay = delays.pop(0)
            return status, cut, delay

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                method = self.command
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else None
                status, cut, delay = proxy._take(method, self.path)
                with proxy._lock:
                    proxy._active[method] = proxy._active.get(method, 0) + 1
                    proxy._lock.notify_all()
                try:
                    if status is not None:
                        proxy.requests.append((method, self.path, status))
                        self._send_error(status)
                        return
                    if delay:
                        time.sleep(delay)
                    self._forward(method, body, cut)
                finally:
                    with proxy._lock:
                        proxy._active[method] -= 1

            def _send_error(self, status: int) -> None:
                payload = SLOW_DOWN if status == 503 else INTERNAL_ERROR
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, method: str, body: bytes | None, cut: int | None) -> None:
                upstream = http.client.HTTPConnection(LOOPBACK, proxy.upstream_port, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
                upstream.request(method, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                proxy.requests.append((method, self.path, response.status))
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.end_headers()
                sent = 0
                rate = proxy.faults.get_bytes_per_second if method == "GET" else None
                while chunk := response.read(64 * 1024):
                    if cut is not None and sent + len(chunk) > cut:
                        self.wfile.write(chunk[: max(cut - sent, 0)])
                        self.close_connection = True
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if rate:
                        time.sleep(len(chunk) / rate)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
