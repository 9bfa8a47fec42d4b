"""The SQS bridge against moto's SQS and the real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from temporalio.client import Client

from activities.aws_access import make_s3_client, make_sqs_client
from devstack.processes import free_port, spawn, stop_process
from sqs_bridge import POISON_REASON_ATTRIBUTE, SqsBridge
from tests.audio_samples import encode, sine
from tests.conftest import (
    COMPLETION,
    HASH_CHECK,
    Stack,
    bridge_running,
    hash_request,
    services_running,
    until_drained,
    webhooks,
)
from tests.test_messages import celery_v2
from waveflow.settings import Settings
from worker import running_workers
from workflows.stem_ingest import StemIngestWorkflow


async def stem_runs(client: Client, stem_id: str) -> int:
    return len([item async for item in client.list_workflows(f"WorkflowId = 'stem-{stem_id}'")])


async def test_every_envelope_shape_starts_its_stem(services: Stack, client: Client) -> None:
    services.standin.behaviour.send_decisions = False
    for stem_id in ("envelope", "flat", "celery"):
        services.put(f"uploads/{stem_id}.wav", encode(sine(0.2)))
    services.send(hash_request("envelope", "uploads/envelope.wav"))
    services.send(hash_request("flat", "uploads/flat.wav")["kwargs"])
    celery_kwargs = hash_request("celery", "uploads/celery.wav")["kwargs"]
    services.send(celery_v2("app.tasks.generate_hash_and_webhook", celery_kwargs))
    received = await webhooks(services, HASH_CHECK, 3)
    assert sorted(item.body["stemId"] for item in received) == ["celery", "envelope", "flat"]
    await until_drained(services)


async def test_decision_for_a_stem_never_hashed_runs_only_that_step(services: Stack, client: Client) -> None:
    """A process_audio_analysis with no running workflow: signal-with-start hashes, then analyses."""
    audio = encode(sine(0.5))
    services.put("uploads/late.wav", audio)
    services.send(celery_v2("app.tasks.process_audio_analysis",
                            {"stemId": "late", "filepath": "uploads/late.wav", "num_peaks": 64, "userId": "u"}))
    [completion] = await webhooks(services, COMPLETION)
    assert completion.body["status"] == "SUCCESS" and completion.body["result"]["num_peaks"] == 64
    assert services.standin.accepted(HASH_CHECK) == []


async def test_decision_after_the_stem_ended_starts_nothing(services: Stack, client: Client) -> None:
    services.put("uploads/done.wav", encode(sine(0.3)))
    services.send(hash_request("done", "uploads/done.wav"))
    await webhooks(services, COMPLETION)
    await client.get_workflow_handle("stem-done").result()
    decision = {"task": "process_audio_analysis", "id": "analysis-done-2", "args": [],
                "kwargs": {"stemId": "done", "filepath": "uploads/done.wav", "num_peaks": 10}}
    services.send(decision)
    services.send(decision)
    deadline = time.monotonic() + 20
    while services.queue_depth() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert services.queue_depth() == 0
    assert await stem_runs(client, "done") == 1
    assert len(services.standin.accepted(COMPLETION)) == 1


async def test_poison_goes_to_the_dead_letter_queue_with_its_reason(stack: Stack, client: Client) -> None:
    dlq_url = stack.aws.create_queue(f"{stack.bucket}-dlq")
    settings = stack.settings.model_copy(update={"sqs_dlq_url": dlq_url})
    stack.send("this is not a message")
    stack.send({"task": "app.tasks.generate_hash_and_webhook", "kwargs": {"stemId": "../../etc", "filepath": "x"}})
    async with bridge_running(client, settings):
        deadline = time.monotonic() + 20
        while stack.queue_depth() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    assert stack.queue_depth() == 0
    dead = stack.aws.sqs().receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"])["Messages"]
    reasons = sorted(item["MessageAttributes"][POISON_REASON_ATTRIBUTE]["StringValue"] for item in dead)
    assert reasons[0].startswith("body is neither JSON nor base64 JSON")
    assert reasons[1].startswith("generate_hash_and_webhook: stemId: Value error, stemId must be")
    assert "this is not a message" in {item["Body"] for item in dead}


async def test_poison_without_dead_letter_queue_is_kept_and_logged_each_receive(
        stack: Stack, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    settings = stack.settings.model_copy(update={"sqs_visibility_timeout_seconds": 5})
    stack.send('{"task": "app.tasks.make_coffee", "kwargs": {}}')
    bridge = SqsBridge(settings, client, make_sqs_client(settings), make_s3_client(settings))
    with caplog.at_level(logging.ERROR, logger="waveflow.bridge"):
        assert await bridge.poll_once() == 1
        assert stack.queue_depth() == 1
        await asyncio.sleep(5.5)
        assert await bridge.poll_once() == 1
    poison_logs = [record for record in caplog.records if "redrive" in record.getMessage()]
    assert len(poison_logs) == 2 and "unknown task 'app.tasks.make_coffee'" in poison_logs[0].getMessage()
    assert stack.queue_depth() == 1


async def test_bridge_killed_mid_batch_loses_nothing_and_runs_nothing_twice(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    stems = [f"k{index}" for index in range(30)]
    audio = encode(sine(0.1))
    for stem_id in stems:
        stack.put(f"uploads/{stem_id}.wav", audio)
    env = {**stack.env(), "SQS_VISIBILITY_TIMEOUT_SECONDS": "5"}
    async with running_workers(client, stack.settings):
        for stem_id in stems:
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
        try:
            await webhooks(stack, HASH_CHECK, 3)
            bridge.kill()
            bridge.wait()
            handed_over = len(stack.standin.accepted(HASH_CHECK))
            bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
            await webhooks(stack, COMPLETION, len(stems), timeout=120)
            # Copies the killed bridge held come back after their visibility timeout, to be acknowledged.
            await until_drained(stack)
        finally:
            stop_process(bridge)
    assert handed_over < len(stems), "the kill came in the middle"
    completions = [item.body["stemId"] for item in stack.standin.accepted(COMPLETION)]
    assert sorted(completions) == sorted(stems)
    hash_checks = [item.body["stemId"] for item in stack.standin.accepted(HASH_CHECK)]
    assert sorted(hash_checks) == sorted(stems)
    for stem_id in stems[:5]:
        assert await stem_runs(client, stem_id) == 1
    assert stack.queue_depth() == 0


async def test_sigterm_finishes_the_batch_and_exits(stack: Stack, tmp_path: Path) -> None:
    bridge = spawn("sqs_bridge.py", stack.env(), tmp_path / "bridge.log")
    await asyncio.sleep(3)
    started = time.monotonic()
    stop_process(bridge, timeout=30)
    assert bridge.returncode == 0 and time.monotonic() - started < 25
    assert "bridge stopped" in (tmp_path / "bridge.log").read_text()


async def test_decision_signal_can_be_sent_by_a_temporal_client(stack: Stack, client: Client) -> None:
    """A server with a Temporal client signals the stem itself; the same `decide` signal the bridge sends."""
    from waveflow.contract import DedupeDecision

    audio = encode(sine(0.2))
    stack.put("uploads/direct.wav", audio)
    stack.standin.behaviour.send_decisions = False
    async with services_running(client, stack.settings):
        stack.send(hash_request("direct", "uploads/direct.wav"))
        [hash_check] = await webhooks(stack, HASH_CHECK)
        handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-direct")
        await handle.signal(StemIngestWorkflow.decide, DedupeDecision(
            duplicate=True, filepath="uploads/direct.wav", audio_hash=hash_check.body["audio_hash"]))
        outcome = await handle.result()
    assert outcome.completion.result.status == "duplicate_file_deleted"
    assert "uploads/direct.wav" not in stack.object_keys()
    assert json.loads(stack.standin.accepted(COMPLETION)[0].raw_body)["status"] == "SUCCESS"


async def test_a_stem_message_waits_while_s3_cannot_say_whether_the_stem_succeeded(
        stack: Stack, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """The success record cannot be looked up: the message is neither handed over nor acknowledged, and is handed
    over once S3 answers again."""
    settings = stack.settings.model_copy(update={"sqs_visibility_timeout_seconds": 5})
    stack.send(hash_request("unchecked", "uploads/unchecked.wav"))
    with caplog.at_level(logging.WARNING, logger="waveflow.bridge"):
        assert await SqsBridge(settings, client, make_sqs_client(settings), unreachable_s3(settings)).poll_once() == 1
    assert "could not look for the stem's success record in S3" in caplog.text
    assert stack.queue_depth() == 1
    assert [item async for item in client.list_workflows("WorkflowId = 'stem-unchecked'")] == []
    await asyncio.sleep(5.5)
    assert await SqsBridge(settings, client, make_sqs_client(settings), make_s3_client(settings)).poll_once() == 1
    assert stack.queue_depth() == 0
    await client.get_workflow_handle("stem-unchecked").describe()


async def test_a_decision_for_a_waiting_stem_goes_to_its_run_without_a_success_record_lookup(
        stack: Stack, client: Client) -> None:
    """The run that waits for the decision is the authority: the bridge signals it with no lookup in S3 (which this
    bridge cannot reach: a lookup would keep the message), one S3 call fewer per stem."""
    stack.put("uploads/waiting.wav", encode(sine(0.3)))
    sqs = make_sqs_client(stack.settings)
    async with running_workers(client, stack.settings):
        stack.send(hash_request("waiting", "uploads/waiting.wav"))
        assert await SqsBridge(stack.settings, client, sqs, make_s3_client(stack.settings)).poll_once() == 1
        await webhooks(stack, HASH_CHECK)
        assert await SqsBridge(stack.settings, client, sqs, unreachable_s3(stack.settings)).poll_once() == 1
        assert stack.queue_depth() == 0
        [completion] = await webhooks(stack, COMPLETION)
    assert completion.body["status"] == "SUCCESS"


def unreachable_s3(settings: Settings) -> Any:
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name=settings.aws_region,
                        config=Config(retries={"max_attempts": 1}, connect_timeout=1))


async def test_the_oldest_message_age_is_its_time_in_sqs_and_zero_after_an_empty_receive(
        stack: Stack, client: Client) -> None:
    stack.send("a message that waited")
    await asyncio.sleep(2)
    bridge = SqsBridge(stack.settings, client, make_sqs_client(stack.settings), make_s3_client(stack.settings))
    age = "waveflow_bridge_oldest_message_age_seconds"
    assert await bridge.poll_once() == 1
    assert 2 <= bridge.metrics.registry.get_sample_value(age) < 30
    assert await bridge.poll_once() == 0  # the queue holds nothing to receive now
    assert bridge.metrics.registry.get_sample_value(age) == 0
