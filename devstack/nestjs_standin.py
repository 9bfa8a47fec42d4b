"""A stand-in for the NestJS server: receives WaveFlow's webhooks, records them, can fail on purpose,
and answers each hash-check with the dedupe decision over SQS, as the real server does.

Given a `webhook_secret`, it verifies every webhook's Standard Webhooks signature as the NestJS kit does and
answers 401 to one that does not verify (recorded with its `signature_error`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from standardwebhooks import Webhook, WebhookVerificationError

from devstack.processes import LoopbackHttpServer

T = TypeVar("T")


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    raw_body: bytes
    status: int
    received_at: float = field(default_factory=time.time)
    signature_error: str | None = None
    """Why the signature did not verify (then `status` is 401); None when verified or not checked."""

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw_body)


@dataclass
class Behaviour:
    """How the stand-in answers: scripted statuses and delays per path, and whether it decides by SQS."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    """Paths answered 503 until removed (an outage of the server, for as long as it lasts)."""
    delays: dict[str, list[float]] = field(default_factory=dict)
    send_decisions: bool = True
    undecided_stems: set[str] = field(default_factory=set)
    """Stems whose hash-check the server leaves undecided (a slow server, for these stems only)."""


class NestJsStandIn:
    def __init__(self, send_to_sqs: Callable[[str], None] | None = None, port: int = 0,
                 webhook_secret: str | None = None) -> None:
        self.behaviour = Behaviour()
        self._verifier = Webhook(webhook_secret) if webhook_secret else None
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

    def forget_delays(self, *paths: str) -> None:
        """Answer requests to `paths` at once again, however many held answers `delay_next` still had in store."""
        with self._lock:
            for path in paths:
                self.behaviour.delays.pop(path, None)

    def wait_until_in_progress(self, path: str, timeout: float = 60.0) -> None:
        """Until a request to `path` is being held (see delay_next)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._in_progress.get(path, 0) > 0, timeout):
                raise TimeoutError(f"no request to {path} in progress after {timeout} s")

    def unique_accepted(self, path: str) -> dict[str, ReceivedWebhook]:
        """Accepted webhooks by Idempotency-Key, as a receiver that honours the key would apply them."""
        return _by_idempotency_key(self.accepted(path))

    def accepted(self, path: str) -> list[ReceivedWebhook]:
        """2xx deliveries to a path (`/webhook/hash-check` or `/webhook/completion`), in arrival order."""
        with self._lock:
            return [item for item in self.received if item.path == path and item.status < 300]

    def rejected_signatures(self) -> list[ReceivedWebhook]:
        """Webhooks answered 401 because their signature did not verify (only with a `webhook_secret`)."""
        with self._lock:
            return [item for item in self.received if item.signature_error is not None]

    def wait_until(self, condition: Callable[[list[ReceivedWebhook]], T], timeout: float = 60.0,
                   what: str = "the condition") -> T:
        """Until `condition(every webhook received so far)` is truthy; returns that value. It is evaluated under
        the stand-in's lock, at once and after each webhook; an exception it raises ends the wait."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = condition(list(self.received))
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what}: not reached after {timeout} s")
                self._changed.wait(remaining)

    def wait_for(self, path: str, count: int = 1, timeout: float = 60.0) -> list[ReceivedWebhook]:
        """Until `count` deliveries to `path` were accepted, retried copies included."""
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

    def wait_for_unique(self, path: str, count: int, timeout: float = 60.0) -> dict[str, ReceivedWebhook]:
        """Until `count` distinct webhooks (by Idempotency-Key) to `path` were accepted: a copy sent again after a
        worker was killed mid-delivery does not count twice."""

        def enough(received: list[ReceivedWebhook]) -> dict[str, ReceivedWebhook] | None:
            unique = _by_idempotency_key([item for item in received if item.path == path and item.status < 300])
            return unique if len(unique) >= count else None

        return self.wait_until(enough, timeout, f"{count} distinct webhooks to {path}")

    def _signature_error(self, raw_body: bytes, headers: dict[str, str]) -> str | None:
        if self._verifier is None:
            return None
        try:
            self._verifier.verify(raw_body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError) as error:  # ValueError: malformed base64 or timestamp
            return str(error) or type(error).__name__
        return None

    def _answer(self, path: str, raw_body: bytes, headers: dict[str, str]) -> int:
        signature_error = self._signature_error(raw_body, headers)
        if signature_error is not None:
            with self._changed:
                self.received.append(ReceivedWebhook(path, headers, raw_body, 401, signature_error=signature_error))
                self._changed.notify_all()
            return 401
        if not _is_json_object(raw_body):
            with self._changed:
                self.received.append(ReceivedWebhook(path, headers, raw_body, 400))
                self._changed.notify_all()
            return 400
        with self._changed:
            scripted = self.behaviour.statuses.get(path)
            status = 503 if path in self.behaviour.unavailable else scripted.pop(0) if scripted else 201
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
        if self.send_to_sqs is None or not self.behaviour.send_decisions:
            return
        if hash_check["stemId"] not in self.behaviour.undecided_stems:
            self.send_decision(hash_check)

    def decide(self, stem_id: str) -> None:
        """The decision for a stem left undecided until now (`Behaviour.undecided_stems`), on its latest hash-check."""
        hash_checks = [item.body for item in self.unique_accepted("/webhook/hash-check").values()
                       if item.body["stemId"] == stem_id]
        self.send_decision(hash_checks[-1])

    def send_decision(self, hash_check: dict[str, Any]) -> None:
        """The server's rule: a hash seen before under another stem makes this one a duplicate."""
        assert self.send_to_sqs is not None
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
                if len(raw_body) < length:  # the sender died mid-request: a NestJS body parser drops it unanswered
                    self.close_connection = True
                    return
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


def _by_idempotency_key(received: list[ReceivedWebhook]) -> dict[str, ReceivedWebhook]:
    unique: dict[str, ReceivedWebhook] = {}
    for item in received:
        unique.setdefault(item.headers.get("Idempotency-Key", str(id(item))), item)
    return unique


def _is_json_object(raw_body: bytes) -> bool:
    try:
        return isinstance(json.loads(raw_body), dict)
    except ValueError:
        return False
