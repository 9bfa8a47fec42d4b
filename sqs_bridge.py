"""The SQS bridge: long-polls the queue and hands every message to Temporal before acknowledging it.

Run: `python sqs_bridge.py` (or `waveflow-bridge`). SIGTERM or SIGINT: stop receiving, finish the batch, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum, StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from temporalio.client import Client, WorkflowHandle

from activities.aws_access import make_s3_client, make_sqs_client, sqs_arn, sqs_failure
from metrics import BridgeMetrics
from temporal_client import (
    TemporalTrouble,
    check_reachable,
    check_search_attributes,
    connect,
    describe_error,
    namespace_retention,
    trouble_of,
)
from waveflow.health import HealthServer, Verdict
from waveflow.logs import configure_logging
from waveflow.messages import ParsedMessage, PoisonMessageError, Task, parse_message
from waveflow.namespace import describe_retention
from waveflow.settings import Settings, load_settings
from waveflow.success_records import SuccessRecords
from waveflow.tracing import configure_tracing
from workflows.routes import JOINS, ROUTES

log = logging.getLogger("waveflow.bridge")
tracer = trace.get_tracer("waveflow.bridge")
TRACE_ATTRIBUTES = ["traceparent", "tracestate"]
"""SQS message attributes a producer may set (W3C trace context) so that the stem's trace starts there."""
BATCH_SIZE = 10
MAX_POLL_BACKOFF_SECONDS = 30
RECHECK_TEMPORAL_AFTER_SECONDS = 10.0
"""Receiving after this long without a word from Temporal needs a fresh probe first."""
POISON_REASON_ATTRIBUTE = "waveflow-poison-reason"
STEM_TASKS = frozenset({Task.GENERATE_HASH, Task.PROCESS_DUPLICATE, Task.PROCESS_ANALYSIS})
"""Messages about one stem: looked up in the success records before they are handed over (a decision that finds
its stem's run waiting is not: the run is the authority)."""


class BridgeState(StrEnum):
    STARTING = "starting"
    RECEIVING = "receiving"
    TEMPORAL_UNAVAILABLE = TemporalTrouble.UNAVAILABLE.value
    """Paused: Temporal is away or overloaded; probing it at growing intervals, receiving nothing."""
    MISCONFIGURED = TemporalTrouble.MISCONFIGURED.value
    """Paused: Temporal refuses the configuration; the error line repeats, receiving nothing."""
    SQS_UNAVAILABLE = "sqs_unavailable"
    STOPPED = "stopped"


class Handled(Enum):
    ACCEPTED = "accepted"
    """Temporal has it: delete the message."""
    DEAD_LETTERED = "dead_lettered"
    """A poison message now in the DLQ: delete it here."""
    LEFT_FOR_REDRIVE = "left_for_redrive"
    """A poison message with no DLQ configured: the queue's own redrive policy decides."""
    RELEASED = "released"
    """Temporal could not take it: visible again at once, while the bridge pauses instead of receiving it again."""
    KEPT = "kept"
    """Not handed over (S3 did not answer the success-record check): visible again after its visibility timeout."""


@dataclass
class Received:
    receipt_handle: str
    message_id: str
    body: str
    receive_count: int
    trace_context: dict[str, str]
    sent_at: float
    """When SQS accepted it, in seconds since the epoch."""


def rpc_timeout(settings: Settings) -> timedelta:
    return settings.temporal_rpc_timeout


async def hand_over(client: Client, settings: Settings, parsed: ParsedMessage,
                    sqs_message_id: str) -> WorkflowHandle[Any, Any] | None:
    """Start or signal the workflow that serves the message's task; None when the message asks for nothing new."""
    return await ROUTES[parsed.task](client, settings, parsed, parsed.message_id or sqs_message_id)


def require_queue_url(settings: Settings) -> str:
    if not settings.sqs_queue_url:
        raise SystemExit("waveflow: invalid environment: SQS_QUEUE_URL: Field required")
    return settings.sqs_queue_url


class SqsBridge:
    """Receives only while Temporal answers: a Temporal outage pauses receiving instead of burning receives."""

    def __init__(self, settings: Settings, client: Client, sqs: Any, s3: Any,
                 metrics: BridgeMetrics | None = None) -> None:
        self._settings = settings
        self._success_records = SuccessRecords(s3, settings.s3_bucket_name, settings.s3_success_record_prefix)
        self._queue_url = require_queue_url(settings)
        self._queue_arn = sqs_arn(settings.aws_region, self._queue_url)
        self._client = client
        self._sqs = sqs
        self.metrics = metrics or BridgeMetrics([state.value for state in BridgeState])
        self._state = BridgeState.STARTING
        self._detail = ""
        self._trouble_from_probe = False
        self._temporal_failures = 0
        """Consecutive failed calls to Temporal since the last accepted hand-over: the probe backoff grows with it."""
        self._cautious = False
        """After a pause, receive one message at a time until Temporal accepts one."""
        self._paused_at = 0.0
        self._last_contact = -math.inf
        self._last_report = -math.inf
        self._last_tick = time.monotonic()
        self._poll_failures = 0
        self.metrics.state.state(self._state.value)

    @property
    def state(self) -> BridgeState:
        return self._state

    def readiness(self) -> Verdict:
        return Verdict(self._state is BridgeState.RECEIVING, self._state.value, self._detail)

    def liveness(self) -> Verdict:
        """Live while the loop turns: its longest wait is a long poll, a hand-over or a pause interval."""
        stalled_after = 3 * max(self._settings.sqs_wait_time_seconds, self._settings.temporal_rpc_timeout_seconds,
                                self._settings.bridge_misconfigured_report_seconds, MAX_POLL_BACKOFF_SECONDS)
        idle = time.monotonic() - self._last_tick
        return Verdict(idle < stalled_after, self._state.value, f"loop last turned {idle:.0f} s ago")

    async def run(self, stop: asyncio.Event) -> None:
        log.info("bridge polling %s", self._queue_url)
        while not stop.is_set():
            self._last_tick = time.monotonic()
            wait = await self._temporal_gate()
            if wait:
                await _sleep_unless(stop, wait)
                continue
            try:
                await self.poll_once()
                self._poll_failures = 0
                if self._state is BridgeState.SQS_UNAVAILABLE:
                    self._set_state(BridgeState.RECEIVING)
            except Exception as error:  # SQS unreachable or refusing must not end the daemon
                self._poll_failures += 1
                delay = min(2 ** self._poll_failures, MAX_POLL_BACKOFF_SECONDS)
                reason = sqs_failure(error, self._queue_arn)
                self._set_state(BridgeState.SQS_UNAVAILABLE, reason)
                log.warning("polling SQS failed (%s); retrying in %s s", reason, delay)
                await _sleep_unless(stop, delay)
        self._set_state(BridgeState.STOPPED)
        log.info("bridge stopped")

    async def _temporal_gate(self) -> float:
        """0 when the bridge may receive now; otherwise how long to wait before asking again."""
        if self._state is BridgeState.MISCONFIGURED and not self._trouble_from_probe:
            self._report_misconfiguration()  # a refused hand-over is not something a probe can see mended
            return self._settings.bridge_misconfigured_report_seconds
        if (self._state in (BridgeState.RECEIVING, BridgeState.SQS_UNAVAILABLE)
                and time.monotonic() - self._last_contact < RECHECK_TEMPORAL_AFTER_SECONDS):
            return 0
        try:
            await check_reachable(self._client, self._settings.temporal_rpc_timeout)
            if self._settings.temporal_search_attributes:
                await check_search_attributes(self._client, self._settings.temporal_rpc_timeout)
        except Exception as error:
            trouble = trouble_of(error)
            if trouble is None:
                raise
            return self._pause(trouble, describe_error(error), from_probe=True)
        self._last_contact = time.monotonic()
        if self._state is not BridgeState.SQS_UNAVAILABLE:
            previous = self._set_state(BridgeState.RECEIVING)
            if previous in (BridgeState.TEMPORAL_UNAVAILABLE, BridgeState.MISCONFIGURED):
                log.info("Temporal answers again after %.0f s: receiving", time.monotonic() - self._paused_at)
        return 0

    def _pause(self, trouble: TemporalTrouble, detail: str, *, from_probe: bool) -> float:
        """Stop receiving; returns how long to wait before the next probe."""
        self._temporal_failures += 1
        self._cautious = True
        state = BridgeState(trouble.value)
        previous = self._set_state(state, detail)
        self._trouble_from_probe = from_probe
        if previous is not state:
            self._paused_at = time.monotonic()
            self.metrics.pauses.labels(trouble.value).inc()
        if state is BridgeState.MISCONFIGURED:
            self._report_misconfiguration()
            return self._settings.bridge_misconfigured_report_seconds
        if previous is not state:
            log.warning("Temporal cannot take work (%s): receiving paused, messages stay on the queue; "
                        "probing until it answers", detail)
        return min(2.0 ** self._temporal_failures, self._settings.bridge_probe_max_seconds)

    def _report_misconfiguration(self) -> None:
        """One line, repeated at most once per report interval, saying what is wrong and what to do."""
        now = time.monotonic()
        if now - self._last_report < 0.9 * self._settings.bridge_misconfigured_report_seconds:
            return
        self._last_report = now
        remedy = ("the bridge resumes by itself once Temporal accepts it" if self._trouble_from_probe
                  else "then restart the bridge")
        log.error("Temporal refuses the bridge's requests (%s): fix TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, the "
                  "credentials or the search attributes; %s. Receiving is paused: nothing is taken from the queue",
                  self._detail, remedy, extra={"bridgeState": self._state.value})

    def _set_state(self, state: BridgeState, detail: str = "") -> BridgeState:
        previous, self._state, self._detail = self._state, state, detail
        if previous is not state:
            self.metrics.state.state(state.value)
        return previous

    async def poll_once(self) -> int:
        """Receive one batch, hand it to Temporal concurrently, delete what Temporal accepted."""
        response = await asyncio.to_thread(
            self._sqs.receive_message, QueueUrl=self._queue_url,
            MaxNumberOfMessages=1 if self._cautious else BATCH_SIZE,
            WaitTimeSeconds=self._settings.sqs_wait_time_seconds,
            VisibilityTimeout=self._settings.sqs_visibility_timeout_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=TRACE_ATTRIBUTES)
        now = time.time()
        batch = [Received(item["ReceiptHandle"], item["MessageId"], item.get("Body", ""),
                          int(item.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                          {name: value["StringValue"] for name, value in item.get("MessageAttributes", {}).items()
                           if name in TRACE_ATTRIBUTES and "StringValue" in value},
                          int(item.get("Attributes", {}).get("SentTimestamp", now * 1000)) / 1000)
                 for item in response.get("Messages", [])]
        self.metrics.oldest_message_age.set(max((now - message.sent_at for message in batch), default=0.0))
        if not batch:
            return 0
        self.metrics.received.inc(len(batch))
        self.metrics.redelivered.inc(sum(1 for message in batch if message.receive_count > 1))
        with self._visibility_kept(batch) as unfinished:
            outcomes = await asyncio.gather(*(self._handle(message, unfinished) for message in batch))
        done = [message for message, outcome in zip(batch, outcomes, strict=True)
                if outcome in (Handled.ACCEPTED, Handled.DEAD_LETTERED)]
        await self._delete(done)
        released = [message.receipt_handle for message, outcome in zip(batch, outcomes, strict=True)
                    if outcome is Handled.RELEASED]
        if released:
            await self._change_visibility(released, 0)
        return len(batch)

    async def _handle(self, message: Received, unfinished: set[str]) -> Handled:
        # One trace per message (continuing the producer's when it sent one): the workflow it starts and that
        # workflow's activities and webhooks join it through the client's tracing interceptor.
        with tracer.start_as_current_span(
                "receive SQS message", context=propagate.extract(message.trace_context), kind=SpanKind.CONSUMER,
                attributes={"messaging.system": "aws_sqs", "messaging.message.id": message.message_id}) as span:
            try:
                handled = await self._handle_one(message)
                span.set_attribute("waveflow.handled", handled.value)
                return handled
            finally:
                unfinished.discard(message.receipt_handle)

    async def _handle_one(self, message: Received) -> Handled:
        received_at = time.monotonic()
        try:
            parsed = parse_message(message.body)
        except PoisonMessageError as poison:
            return await self._poison(message, str(poison))
        extra = {"sqsMessageId": message.message_id, "task": parsed.task.value, "receiveCount": message.receive_count}
        if parsed.request is not None:
            extra["stemId"] = parsed.request.stemId
            trace.get_current_span().set_attribute("waveflow.stem_id", parsed.request.stemId)
        trace.get_current_span().set_attribute("waveflow.task", parsed.task.value)
        if parsed.ignored_fields:
            log.warning("ignoring unknown fields %s", parsed.ignored_fields, extra=extra)
        # A decision for a waiting stem goes straight to its run; other messages, and a decision no run waits
        # for, are looked up in the success records first and then take their route.
        handle: WorkflowHandle[Any, Any] | Handled | None = None
        join = JOINS.get(parsed.task)
        if join is not None:
            handle = await self._to_temporal(join(self._client, self._settings, parsed,
                                                  parsed.message_id or message.message_id), message, extra)
        if handle is None:
            if (answered := await self._answered_by_success_record(parsed, extra)) is not None:
                return answered
            handle = await self._to_temporal(hand_over(self._client, self._settings, parsed, message.message_id),
                                             message, extra)
        if isinstance(handle, Handled):
            return handle
        self._last_contact = time.monotonic()
        self._temporal_failures = 0
        self._cautious = False
        self.metrics.handed_over.labels(parsed.task.value).inc()
        self.metrics.handover_seconds.observe(time.monotonic() - received_at)
        if handle is None:
            log.info("stem already finished; message acknowledged without a new run", extra=extra)
        else:
            log.info("handed to workflow %s", handle.id, extra=extra)
        return Handled.ACCEPTED

    async def _answered_by_success_record(self, parsed: ParsedMessage, extra: dict[str, object]) -> Handled | None:
        """ACCEPTED for a stem message whose stem succeeded (its record in S3), KEPT when S3 did not answer."""
        if parsed.request is None or parsed.task not in STEM_TASKS or not self._success_records.enabled:
            return None
        try:
            succeeded_at = await asyncio.to_thread(self._success_records.succeeded_at, parsed.request.stemId)
        except (BotoCoreError, ClientError) as error:
            log.warning("could not look for the stem's success record in S3 (%s); the message comes back after "
                        "its visibility timeout", describe_error(error), extra=extra)
            return Handled.KEPT
        if succeeded_at is None:
            return None
        log.info("stem succeeded at %s (its record in S3): message acknowledged without a new run",
                 succeeded_at.isoformat(), extra=extra)
        return Handled.ACCEPTED

    async def _to_temporal(self, call: Awaitable[WorkflowHandle[Any, Any] | None], message: Received,
                           extra: dict[str, object]) -> WorkflowHandle[Any, Any] | Handled | None:
        """A route's call, bounded in time; what becomes of the message when Temporal does not take it."""
        try:
            # The SDK retries an unavailable server inside one call: bound the whole call, not each attempt.
            return await asyncio.wait_for(call, timeout=2 * self._settings.temporal_rpc_timeout_seconds)
        except PoisonMessageError as poison:
            return await self._poison(message, str(poison))
        except Exception as error:
            trouble = trouble_of(error)
            if trouble is None:
                raise
            self._pause(trouble, describe_error(error), from_probe=False)
            self.metrics.released.labels(trouble.value).inc()
            log.warning("Temporal did not take the message (%s); it is visible again for when Temporal is back",
                        describe_error(error), extra=extra)
            return Handled.RELEASED

    async def _poison(self, message: Received, reason: str) -> Handled:
        dlq = self._settings.sqs_dlq_url
        if not dlq:
            self.metrics.poison.labels(Handled.LEFT_FOR_REDRIVE.value).inc()
            log.error("poison message left for the queue's redrive policy: %s", reason,
                      extra={"sqsMessageId": message.message_id, "receiveCount": message.receive_count})
            return Handled.LEFT_FOR_REDRIVE
        await asyncio.to_thread(
            self._sqs.send_message, QueueUrl=dlq, MessageBody=message.body or " ",
            MessageAttributes={POISON_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]},
                               "waveflow-source-message-id": {"DataType": "String",
                                                              "StringValue": message.message_id}})
        self.metrics.poison.labels(Handled.DEAD_LETTERED.value).inc()
        log.error("poison message moved to the dead-letter queue: %s", reason,
                  extra={"sqsMessageId": message.message_id})
        return Handled.DEAD_LETTERED

    @contextlib.contextmanager
    def _visibility_kept(self, batch: list[Received]) -> Iterator[set[str]]:
        """While hand-overs run, keep their messages invisible so no other bridge takes them."""
        unfinished = {message.receipt_handle for message in batch}
        timeout = self._settings.sqs_visibility_timeout_seconds

        async def extend() -> None:
            while True:
                await asyncio.sleep(timeout / 2)
                if unfinished:
                    await self._change_visibility(sorted(unfinished), timeout)

        keeper = asyncio.create_task(extend())
        try:
            yield unfinished
        finally:
            keeper.cancel()

    async def _change_visibility(self, receipt_handles: list[str], seconds: int) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                   for index, handle in enumerate(receipt_handles)]
        try:
            await asyncio.to_thread(self._sqs.change_message_visibility_batch, QueueUrl=self._queue_url,
                                    Entries=entries)
        except (BotoCoreError, ClientError) as error:  # the message reappears by itself: nothing is lost
            log.warning("could not change visibility (%s)", sqs_failure(error, self._queue_arn))

    async def _delete(self, messages: list[Received]) -> None:
        if not messages:
            return
        entries = [{"Id": str(index), "ReceiptHandle": message.receipt_handle}
                   for index, message in enumerate(messages)]
        response = await asyncio.to_thread(self._sqs.delete_message_batch, QueueUrl=self._queue_url, Entries=entries)
        for failed in response.get("Failed", []):
            log.warning("delete failed for a handed-over message (%s); a redelivery is harmless",
                        failed.get("Code"))


async def warn_of_short_retention(client: Client, sqs: Any, settings: Settings) -> None:
    """A WARNING when the namespace forgets closed stems sooner than SQS can still deliver a message for them."""
    queues = [url for url in (settings.sqs_queue_url, settings.sqs_dlq_url) if url]
    try:
        periods = [int((await asyncio.to_thread(sqs.get_queue_attributes, QueueUrl=url,
                                                AttributeNames=["MessageRetentionPeriod"]))
                       ["Attributes"]["MessageRetentionPeriod"]) for url in queues]
        retention = await namespace_retention(client, settings.temporal_rpc_timeout)
    except (BotoCoreError, ClientError) as error:
        log.warning("could not read the queues' retention to compare it with the namespace's (%s)",
                    sqs_failure(error, sqs_arn(settings.aws_region, queues[0])))
        return
    except Exception as error:
        if trouble_of(error) is None:
            raise
        log.warning("could not read the namespace's retention (%s)", describe_error(error))
        return
    shortfall = describe_retention(retention, timedelta(seconds=max(periods)))
    if shortfall:
        log.warning("%s", shortfall)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for received in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(received, stop.set)
    # Lazy: a bridge started while Temporal is away waits for it, paused, instead of exiting.
    client = await connect(lazy=True)
    sqs = make_sqs_client(settings)
    bridge = SqsBridge(settings, client, sqs, make_s3_client(settings))
    if settings.sqs_dlq_url:
        bridge.metrics.watch_dead_letter_queue(sqs, settings.sqs_dlq_url)
    retention_check = asyncio.create_task(warn_of_short_retention(client, sqs, settings))
    health = (HealthServer(settings.bridge_health_bind_address, bridge.liveness, bridge.readiness,
                           bridge.metrics.registry).start() if settings.bridge_health_bind_address else None)
    try:
        await bridge.run(stop)
    finally:
        retention_check.cancel()
        if health is not None:
            health.stop()


def main() -> None:
    settings = load_settings()
    require_queue_url(settings)
    configure_logging(settings.log_level)
    configure_tracing("waveflow-bridge")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
