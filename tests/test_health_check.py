"""The image's health check: live when either process's health address answers 200 on /livez."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from devstack.processes import LoopbackHttpServer, free_port
from waveflow.health import health_urls, is_live


def health_server(status: int) -> LoopbackHttpServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/livez" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return LoopbackHttpServer(Health, "health-stub")


@pytest.fixture
def bridge_answering() -> Iterator[dict[int, str]]:
    servers = {status: health_server(status) for status in (200, 503)}
    for server in servers.values():
        server.start()
    yield {status: server.base_url.rsplit(":", 1)[1] for status, server in servers.items()}
    for server in servers.values():
        server.stop()


def test_defaults_ask_both_processes_on_loopback() -> None:
    assert health_urls({}) == ["http://127.0.0.1:9465/livez", "http://127.0.0.1:9466/livez"]


def test_live_when_the_process_in_this_container_answers_200(bridge_answering: dict[int, str]) -> None:
    nobody = str(free_port())
    environ = {"WORKER_HEALTH_BIND_ADDRESS": f"0.0.0.0:{nobody}",
               "BRIDGE_HEALTH_BIND_ADDRESS": f"0.0.0.0:{bridge_answering[200]}"}
    assert is_live(health_urls(environ))


def test_not_live_on_503_or_when_nothing_listens(bridge_answering: dict[int, str]) -> None:
    nobody = str(free_port())
    environ = {"WORKER_HEALTH_BIND_ADDRESS": f"0.0.0.0:{nobody}",
               "BRIDGE_HEALTH_BIND_ADDRESS": f"0.0.0.0:{bridge_answering[503]}"}
    assert not is_live(health_urls(environ))
    assert not is_live(health_urls({"WORKER_HEALTH_BIND_ADDRESS": f"127.0.0.1:{nobody}",
                                   "BRIDGE_HEALTH_BIND_ADDRESS": f"127.0.0.1:{nobody}"}))
