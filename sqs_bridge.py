"""The SQS bridge: long-polls the queue and hands every message to Temporal before acknowledging it.

Run: `python sqs_bridge.py` (or `waveflow-bridge`). SIGTERM or SIGINT: stop receiving, finish the batch, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from temporal_client import connect
from waveflow.logs import configure_logging
from waveflow.messages import ParsedMessage, PoisonMessageError, Task, parse_message
from waveflow.models import (
    AudioAnalysisRequest,
    DedupeDecision,
    DuplicateFileRequest,
    HashRequest,
    StemIngestInput,
    StemPolicy,
)
from waveflow.settings import Settings, load_settings
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow
from workflows.mix_stems import start_mix_workflow
from workflows.search_attributes import TRACK_ID, USER_ID
from workflows.stem_ingest import StemIngestWorkflow, workflow_id_for

log = logging.getLogger("waveflow.bridge")
BATCH_SIZE = 10
MAX_HANDOVER_BACKOFF_SECONDS = 300
MAX_POLL_BACKOFF_SECONDS = 30
POISON_REASON_ATTRIBUTE = "waveflow-poison-reason"
MAINTENANCE: dict[Task, tuple[Callable[..., Awaitable[Any]], str]] = {
    Task.CLEANUP_TEMP_FILES: (CleanupTempFilesWorkflow.run, "cleanup"),
    Task.HEALTH_CHECK: (HealthCheckWorkflow.run, "health"),
}


class Handled(Enum):
    ACCEPTED = "accepted"
    """Temporal has it: delete the message."""
    DEAD_LETTERED = "dead_lettered"
    """A poison message now in the DLQ: delete it here."""
    LEFT_FOR_REDRIVE = "left_for_redrive"
    """A poison message with no DLQ configured: the queue's own redrive policy decides."""
    RETRY = "retry"
    """Temporal did not take it: keep it, make it visible again after a backoff."""


@dataclass
class Received:
    receipt_handle: str
    message_id: str
    body: str
    receive_count: int


def stem_policy(settings: Settings) -> StemPolicy:
    return StemPolicy(decision_timeout_seconds=settings.dedupe_decision_timeout_seconds,
                      webhook_retry_horizon_seconds=settings.webhook_retry_horizon_seconds,
                      webhook_timeout_seconds=settings.webhook_timeout_seconds,
                      default_num_peaks=settings.default_num_peaks,
                      detail_samples_per_pixel=settings.detail_samples_per_pixel,
                      max_file_size_bytes=settings.max_file_size_bytes,
                      delete_allowed_prefixes=settings.s3_delete_allowed_prefixes,
                      search_attributes=settings.temporal_search_attributes)


def make_sqs_client(settings: Settings) -> Any:
    return boto3.client("sqs", region_name=settings.aws_region,
                        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30))


async def hand_over(client: Client, settings: Settings, parsed: ParsedMessage,
                    sqs_message_id: str) -> WorkflowHandle[Any, Any] | None:
    """Start or signal the workflow a message asks for; returns None when that workflow already ended."""
    request = parsed.request
    if parsed.task in MAINTENANCE:
        workflow_run, prefix = MAINTENANCE[parsed.task]
        return await _start_once(client.start_workflow(
            workflow_run, id=f"{prefix}-{parsed.message_id or sqs_message_id}", task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING))
    if isinstance(request, HashRequest):
        return await _start_stem(client, settings, StemIngestInput(request=request, policy=stem_policy(settings)))
    if isinstance(request, DuplicateFileRequest | AudioAnalysisRequest):
        duplicate = isinstance(request, DuplicateFileRequest)
        decision = DedupeDecision(duplicate=duplicate, filepath=request.filepath, audio_hash=request.audio_hash,
                                  num_peaks=None if duplicate else request.num_peaks,
                                  upstream_id=None if duplicate else request.upstreamId)
        stem = HashRequest.model_validate(request.model_dump(exclude={"audio_hash", "num_peaks", "upstreamId"}))
        start = StemIngestInput(request=stem, policy=stem_policy(settings), send_hash_check=False)
        return await _start_stem(client, settings, start, decision)
    if parsed.mix is not None:
        return await start_mix_workflow(client, settings, parsed.mix, parsed.message_id)
    raise PoisonMessageError(f"{parsed.task.value} carries no request")


async def _start_stem(client: Client, settings: Settings, start: StemIngestInput,
                      decision: DedupeDecision | None = None) -> WorkflowHandle[Any, Any] | None:
    request = start.request
    summary = (f"{request.original_filename or request.filepath} · user {request.userId or '-'}"
               f" · track {request.trackId or '-'}")
    attributes = TypedSearchAttributes([
        SearchAttributePair(key, value) for key, value in ((USER_ID, request.userId), (TRACK_ID, request.trackId))
        if value]) if start.policy.search_attributes else None
    return await _start_once(client.start_workflow(
        StemIngestWorkflow.run, start, id=workflow_id_for(request.stemId), task_queue=settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, static_summary=summary, search_attributes=attributes,
        start_signal="decide" if decision else None, start_signal_args=[decision] if decision else []))


async def _start_once(start: Awaitable[WorkflowHandle[Any, Any]]) -> WorkflowHandle[Any, Any] | None:
    """A start that joins the running workflow of that id, and does nothing when that workflow already ended."""
    try:
        return await start
    except WorkflowAlreadyStartedError:
        return None


def require_queue_url(settings: Settings) -> str:
    if not settings.sqs_queue_url:
        raise SystemExit("waveflow: invalid environment: SQS_QUEUE_URL: Field required")
    return settings.sqs_queue_url


class SqsBridge:
    def __init__(self, settings: Settings, client: Client, sqs: Any) -> None:
        self._settings = settings
        self._queue_url = require_queue_url(settings)
        self._client = client
        self._sqs = sqs
        self._poll_failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        log.info("bridge polling %s", self._queue_url)
        while not stop.is_set():
            try:
                await self.poll_once()
                self._poll_failures = 0
            except Exception as error:  # SQS unreachable or refusing must not end the daemon
                self._poll_failures += 1
                delay = min(2 ** self._poll_failures, MAX_POLL_BACKOFF_SECONDS)
                log.warning("receiving from SQS failed (%s); retrying in %s s", type(error).__name__, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        log.info("bridge stopped")

    async def poll_once(self) -> int:
        """Receive one batch, hand it to Temporal concurrently, delete what Temporal accepted."""
        response = await asyncio.to_thread(
            self._sqs.receive_message, QueueUrl=self._queue_url, MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self._settings.sqs_wait_time_seconds,
            VisibilityTimeout=self._settings.sqs_visibility_timeout_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"])
        batch = [Received(item["ReceiptHandle"], item["MessageId"], item.get("Body", ""),
                          int(item.get("Attributes", {}).get("ApproximateReceiveCount", "1")))
                 for item in response.get("Messages", [])]
        if not batch:
            return 0
        with self._visibility_kept(batch) as unfinished:
            outcomes = await asyncio.gather(*(self._handle(message, unfinished) for message in batch))
        done = [message for message, outcome in zip(batch, outcomes, strict=True)
                if outcome in (Handled.ACCEPTED, Handled.DEAD_LETTERED)]
        await self._delete(done)
        retry = [message for message, outcome in zip(batch, outcomes, strict=True) if outcome is Handled.RETRY]
        if retry:
            await self._backoff(retry)
            slowest = max(message.receive_count for message in retry)
            await asyncio.sleep(min(2 ** slowest, MAX_POLL_BACKOFF_SECONDS))
        return len(batch)

    async def _handle(self, message: Received, unfinished: set[str]) -> Handled:
        try:
            return await self._handle_one(message)
        finally:
            unfinished.discard(message.receipt_handle)

    async def _handle_one(self, message: Received) -> Handled:
        try:
            parsed = parse_message(message.body)
        except PoisonMessageError as poison:
            return await self._poison(message, str(poison))
        extra = {"sqsMessageId": message.message_id, "task": parsed.task.value}
        if parsed.request is not None:
            extra["stemId"] = parsed.request.stemId
        if parsed.ignored_fields:
            log.warning("ignoring unknown fields %s", parsed.ignored_fields, extra=extra)
        try:
            handle = await hand_over(self._client, self._settings, parsed, message.message_id)
        except PoisonMessageError as poison:
            return await self._poison(message, str(poison))
        except RPCError as error:
            log.warning("Temporal did not accept the message (%s); it stays on the queue", error.status.name,
                        extra=extra)
            return Handled.RETRY
        if handle is None:
            log.info("stem already finished; message acknowledged without a new run", extra=extra)
        else:
            log.info("handed to workflow %s", handle.id, extra=extra)
        return Handled.ACCEPTED

    async def _poison(self, message: Received, reason: str) -> Handled:
        dlq = self._settings.sqs_dlq_url
        if not dlq:
            log.error("poison message left for the queue's redrive policy: %s", reason,
                      extra={"sqsMessageId": message.message_id, "receiveCount": message.receive_count})
            return Handled.LEFT_FOR_REDRIVE
        await asyncio.to_thread(
            self._sqs.send_message, QueueUrl=dlq, MessageBody=message.body or " ",
            MessageAttributes={POISON_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]},
                               "waveflow-source-message-id": {"DataType": "String",
                                                              "StringValue": message.message_id}})
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

    async def _backoff(self, messages: list[Received]) -> None:
        for message in messages:
            delay = min(2 ** message.receive_count, MAX_HANDOVER_BACKOFF_SECONDS)
            await self._change_visibility([message.receipt_handle], delay)

    async def _change_visibility(self, receipt_handles: list[str], seconds: int) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                   for index, handle in enumerate(receipt_handles)]
        try:
            await asyncio.to_thread(self._sqs.change_message_visibility_batch, QueueUrl=self._queue_url,
                                    Entries=entries)
        except (BotoCoreError, ClientError) as error:  # the message reappears by itself: nothing is lost
            log.warning("could not change visibility (%s)", type(error).__name__)

    async def _delete(self, messages: list[Received]) -> None:
        if not messages:
            return
        entries = [{"Id": str(index), "ReceiptHandle": message.receipt_handle}
                   for index, message in enumerate(messages)]
        response = await asyncio.to_thread(self._sqs.delete_message_batch, QueueUrl=self._queue_url, Entries=entries)
        for failed in response.get("Failed", []):
            log.warning("delete failed for a handed-over message (%s); a redelivery is harmless",
                        failed.get("Code"))


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for received in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(received, stop.set)
    client = await connect()
    await SqsBridge(settings, client, make_sqs_client(settings)).run(stop)


def main() -> None:
    settings = load_settings()
    require_queue_url(settings)
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
