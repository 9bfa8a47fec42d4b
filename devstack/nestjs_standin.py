"""A stand-in for the NestJS server: receives WaveFlow's webhooks, records them, can fail on purpose,
and answers each hash-check with the dedupe decision over SQS, as the real server does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from devstack.processes import LoopbackHttpServer


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    raw_body: bytes
    status: int
    received_at: float = field(default_factory=time.time)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw_body)


@dataclass
class Behaviour:
    """How the stand-in answers: scripted statuses and delays per path, and whether it decides by SQS."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, list[float]] = field(default_factory=dict)
    send_decisions: bool = True


class NestJsStandIn:
    def __init__(self, send_to_sqs: Callable[[str], None] | None = None, port: int = 0) -> None:
        self.behaviour = Behaviour()
        self.received: list[ReceivedWebhook] = []
        self._known_hashes: dict[str, str] = {}
        self._in_progress: dict[str, int] = {}
        self.send_to_sqs = send_to_sqs
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server = LoopbackHttpServer(self._handler_class(), "nestjs-standin", port)

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/webhook"

    def start(self) -> NestJsStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def fail_next(self, path: str, *statuses: int) -> None:
        with self._lock:
            self.behaviour.statuses.setdefault(path, []).extend(statuses)

    def delay_next(self, path: str, *seconds: float) -> None:
        """Hold the next requests to `path` this long before answering (past the sender's timeout, say)."""
        with self._lock:
            self.behaviour.delays.setdefault(path, []).extend(seconds)

    def wait_until_in_progress(self, path: str, timeout: float = 60.0) -> None:
        """Until a request to `path` is being held (see delay_next)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._in_progress.get(path, 0) > 0, timeout):
                raise TimeoutError(f"no request to {path} in progress after {timeout} s")

    def unique_accepted(self, path: str) -> dict[str, ReceivedWebhook]:
        """Accepted webhooks by Idempotency-Key, as a receiver that honours the key would apply them."""
        unique: dict[str, ReceivedWebhook] = {}
        for item in self.accepted(path):
            unique.setdefault(item.headers.get("Idempotency-Key", str(id(item))), item)
        return unique

    def accepted(self, path: str) -> list[ReceivedWebhook]:
        """2xx deliveries to a path (`/webhook/hash-check` or `/webhook/completion`), in arrival order."""
        with self._lock:
            return [item for item in self.received if item.path == path and item.status < 300]

    def wait_for(self, path: str, count: int = 1, timeout: float = 60.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [item for item in self.received if item.path == path and item.status < 300]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} of {count} accepted webhooks to {path} after {timeout} s")
                self._changed.wait(remaining)

    def _answer(self, path: str, raw_body: bytes, headers: dict[str, str]) -> int:
        with self._changed:
            scripted = self.behaviour.statuses.get(path)
            status = scripted.pop(0) if scripted else 201
            delays = self.behaviour.delays.get(path)
            delay = delays.pop(0) if delays else 0.0
            self._in_progress[path] = self._in_progress.get(path, 0) + 1
            self._changed.notify_all()
        if delay:
            time.sleep(delay)
        with self._changed:
            self._in_progress[path] -= 1
            self.received.append(ReceivedWebhook(path, headers, raw_body, status))
            self._changed.notify_all()
        if status < 300 and path.endswith("/hash-check"):
            self._decide(json.loads(raw_body))
        return status

    def _decide(self, hash_check: dict[str, Any]) -> None:
        """The server's rule: a hash seen before under another stem makes this one a duplicate."""
        if self.send_to_sqs is None or not self.behaviour.send_decisions:
            return
        stem_id, audio_hash = hash_check["stemId"], hash_check["audio_hash"]
        with self._lock:
            first_owner = self._known_hashes.setdefault(audio_hash, stem_id)
        common = {"userId": hash_check.get("userId"), "trackId": hash_check.get("trackId"), "stemId": stem_id,
                  "filepath": hash_check["filepath"], "audio_hash": audio_hash}
        millis = int(time.time() * 1000)
        if first_owner != stem_id:
            envelope = {"task": "app.tasks.process_duplicate_file", "id": f"duplicate-{stem_id}-{millis}",
                        "args": [], "kwargs": common}
        else:
            envelope = {"task": "app.tasks.process_audio_analysis", "id": f"analysis-{stem_id}-{millis}",
                        "args": [], "kwargs": {**common, "timestamp": hash_check.get("timestamp"),
                                               "original_filename": hash_check.get("original_filename"),
                                               "num_peaks": 4000, "upstreamId": f"upstream-{stem_id}"}}
        self.send_to_sqs(json.dumps(envelope))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a NestJS server answers: no TCP setup per webhook

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw_body = self.rfile.read(length)
                status = standin._answer(self.path, raw_body, {key: value for key, value in self.headers.items()})
                answer = json.dumps({"ok": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_HEAD(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
