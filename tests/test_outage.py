"""Temporal away or misconfigured, with the queue set up as in production (a redrive policy, maxReceiveCount 5):
the bridge pauses instead of receiving, and no valid message ends in the dead-letter queue."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.aws_access import make_s3_client, make_sqs_client
from devstack.processes import LOOPBACK, TemporalDevServer, free_port, spawn, stop_process
from sqs_bridge import BridgeState, SqsBridge
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, cli_env, hash_request, webhooks
from waveflow.namespace import register_search_attributes_command
from worker import running_workers

MAX_RECEIVE_COUNT = 5
OUTAGE_SECONDS = float(os.environ.get("WAVEFLOW_OUTAGE_SECONDS", "90"))
"""1.5 times the longest backoff sum the old bridge had (5 receives within about a minute moved a message), and 18
visibility timeouts of the test's queue: a bridge that received while Temporal is away would dead-letter."""


def redriven_queue(stack: Stack) -> tuple[str, str]:
    """A fresh queue whose redrive policy moves a message to its DLQ after MAX_RECEIVE_COUNT receives."""
    dlq_url = stack.aws.create_queue(f"{stack.bucket}-redrive-dlq")
    queue_url = stack.aws.create_queue(f"{stack.bucket}-redrive", dead_letter_queue_url=dlq_url,
                                       max_receive_count=MAX_RECEIVE_COUNT)
    return queue_url, dlq_url


def depth(stack: Stack, queue_url: str) -> int:
    attributes = stack.aws.sqs().get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def send(stack: Stack, queue_url: str, body: dict[str, object]) -> None:
    stack.aws.sqs().send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))


async def probe_http(url: str) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
    return response.status_code, response.json()


async def metric(base_url: str, name: str, **labels: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{base_url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} is not served")


async def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Waits for an async or plain condition to hold, checking every 0.2 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = condition()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting until {what}")


async def is_state(url: str, status: int, state: str) -> bool:
    try:
        code, body = await probe_http(url)
    except httpx.HTTPError:
        return False
    return code == status and body["state"] == state


def log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.long
async def test_temporal_outage_pauses_the_bridge_and_dead_letters_nothing(stack: Stack, tmp_path: Path) -> None:
    """Worker and bridge processes; Temporal stopped for OUTAGE_SECONDS while messages arrive, then started
    again on its database: every stem completes once, the DLQ stays empty, no message is received thrice."""
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), db_file=tmp_path / "temporal.db",
                               log_file=tmp_path / "temporal.log").start()
    queue_url, dlq_url = redriven_queue(stack)
    worker_http, bridge_http = f"http://{LOOPBACK}:{free_port()}", f"http://{LOOPBACK}:{free_port()}"
    env = {**stack.env(), "TEMPORAL_ADDRESS": server.address, "SQS_QUEUE_URL": queue_url,
           "SQS_VISIBILITY_TIMEOUT_SECONDS": "5", "WORKER_HEALTH_BIND_ADDRESS": worker_http.removeprefix("http://"),
           "BRIDGE_HEALTH_BIND_ADDRESS": bridge_http.removeprefix("http://")}
    stack.standin.send_to_sqs = lambda body: stack.aws.sqs().send_message(QueueUrl=queue_url, MessageBody=body)
    stems = [f"out{index}" for index in range(5)]
    for stem_id in stems:
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.1)))
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
    try:
        await until(lambda: is_state(f"{bridge_http}/readyz", 200, "receiving"), 60, "the bridge is ready")
        await until(lambda: is_state(f"{worker_http}/readyz", 200, "polling"), 60, "the worker is ready")
        server.stop()
        outage_began = time.monotonic()
        for stem_id in stems[:2]:  # may be received before the bridge notices: released, received again later
            send(stack, queue_url, hash_request(stem_id, f"uploads/{stem_id}.wav"))
        await until(lambda: is_state(f"{bridge_http}/readyz", 503, "temporal_unavailable"), 60,
                    "the bridge pauses")
        await until(lambda: is_state(f"{worker_http}/readyz", 503, "temporal_unavailable"), 60,
                    "the worker is not ready")
        for stem_id in stems[2:]:
            send(stack, queue_url, hash_request(stem_id, f"uploads/{stem_id}.wav"))
        received_when_paused = await metric(bridge_http, "waveflow_bridge_messages_received_total")
        while time.monotonic() - outage_began < OUTAGE_SECONDS:
            assert (await probe_http(f"{bridge_http}/livez"))[0] == 200
            assert (await probe_http(f"{worker_http}/livez"))[0] == 200
            assert await is_state(f"{bridge_http}/readyz", 503, "temporal_unavailable")
            await asyncio.sleep(5)
        assert await metric(bridge_http, "waveflow_bridge_messages_received_total") == received_when_paused
        assert depth(stack, queue_url) == len(stems) and depth(stack, dlq_url) == 0
        assert await metric(bridge_http, "waveflow_bridge_state", waveflow_bridge_state="temporal_unavailable") == 1

        await asyncio.to_thread(server.start)
        await webhooks(stack, COMPLETION, len(stems), timeout=180)
        await until(lambda: depth(stack, queue_url) == 0, 60, "the queue is empty")
        assert await is_state(f"{bridge_http}/readyz", 200, "receiving")
    finally:
        stop_process(bridge)
        stop_process(worker)
    try:
        assert depth(stack, dlq_url) == 0
        assert sorted(item.body["stemId"] for item in stack.standin.accepted(COMPLETION)) == stems
        assert sorted(item.body["stemId"] for item in stack.standin.accepted(HASH_CHECK)) == stems
        assert all(item.body["status"] == "SUCCESS" for item in stack.standin.accepted(COMPLETION))
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        for stem_id in stems:
            runs = [run async for run in client.list_workflows(f"WorkflowId = 'stem-{stem_id}'")]
            assert len(runs) == 1
        handed = [line for line in log_lines(tmp_path / "bridge.log") if line["message"].startswith("handed to")]
        assert len(handed) >= len(stems)
        assert max(int(str(line["receiveCount"])) for line in handed) <= 2
        assert any("receiving paused" in str(line["message"]) for line in log_lines(tmp_path / "bridge.log"))
    finally:
        server.stop()


async def test_a_missing_namespace_is_one_repeated_line_and_nothing_is_received(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    queue_url, dlq_url = redriven_queue(stack)
    bridge_http = f"http://{LOOPBACK}:{free_port()}"
    stems = ["ns0", "ns1", "ns2"]
    for stem_id in stems:
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.1)))
        send(stack, queue_url, hash_request(stem_id, f"uploads/{stem_id}.wav"))
    env = {**stack.env(), "SQS_QUEUE_URL": queue_url, "TEMPORAL_NAMESPACE": "no-such-namespace",
           "BRIDGE_MISCONFIGURED_REPORT_SECONDS": "2", "BRIDGE_HEALTH_BIND_ADDRESS": bridge_http.removeprefix("http://")}
    log_path = tmp_path / "bridge.log"
    bridge = spawn("sqs_bridge.py", env, log_path)
    try:
        def refusals() -> list[dict[str, object]]:
            return [line for line in log_lines(log_path) if line["level"] == "ERROR"]

        await until(lambda: len(refusals()) >= 3, 60, "the error line is repeated")
        assert await is_state(f"{bridge_http}/readyz", 503, "misconfigured")
        assert await metric(bridge_http, "waveflow_bridge_messages_received_total") == 0
    finally:
        stop_process(bridge)
    lines = refusals()
    assert {line["message"] for line in lines} == {lines[0]["message"]}
    assert "NOT_FOUND: Namespace no-such-namespace is not found" in str(lines[0]["message"])
    assert "fix TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE" in str(lines[0]["message"])
    times = [datetime.fromisoformat(str(line["timestamp"])) for line in lines]
    assert all((later - earlier).total_seconds() >= 1.5 for earlier, later in itertools.pairwise(times))
    assert depth(stack, queue_url) == len(stems) and depth(stack, dlq_url) == 0

    fixed = {**env, "TEMPORAL_NAMESPACE": "default", "BRIDGE_HEALTH_BIND_ADDRESS": ""}
    settings = stack.settings.model_copy(update={"sqs_queue_url": queue_url})
    stack.standin.send_to_sqs = lambda body: stack.aws.sqs().send_message(QueueUrl=queue_url, MessageBody=body)
    bridge = spawn("sqs_bridge.py", fixed, log_path)
    try:
        async with running_workers(client, settings):
            await webhooks(stack, COMPLETION, len(stems), timeout=120)
    finally:
        stop_process(bridge)
    assert sorted(item.body["stemId"] for item in stack.standin.accepted(COMPLETION)) == stems
    assert depth(stack, dlq_url) == 0


async def test_unregistered_search_attributes_pause_the_bridge_until_they_are_registered(
        stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Search attributes switched on but never registered: the bridge takes nothing from the queue and names the
    command that registers them; once an operator runs it, the bridge resumes by itself."""
    server = TemporalDevServer(port=free_port(), ui_port=free_port(), search_attributes=False,
                               log_file=tmp_path / "temporal.log").start()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        queue_url, dlq_url = redriven_queue(stack)
        settings = stack.settings.model_copy(update={
            "sqs_queue_url": queue_url, "temporal_search_attributes": True,
            "bridge_misconfigured_report_seconds": 1.0})
        for stem_id in ("sa0", "sa1"):
            send(stack, queue_url, hash_request(stem_id, f"uploads/{stem_id}.wav"))
        bridge = SqsBridge(settings, client, make_sqs_client(settings), make_s3_client(settings))
        stop = asyncio.Event()
        with caplog.at_level(logging.ERROR, logger="waveflow.bridge"):
            task = asyncio.create_task(bridge.run(stop))
            await until(lambda: len([r for r in caplog.records if "refuses" in r.getMessage()]) >= 3, 30,
                        "the error line repeats")
            assert bridge.state is BridgeState.MISCONFIGURED
            assert bridge.metrics.registry.get_sample_value("waveflow_bridge_messages_received_total") == 0
            assert depth(stack, queue_url) == 2 and depth(stack, dlq_url) == 0
            first = caplog.records[0].getMessage()
            assert "WaveFlowErrorCode (Keyword) is not registered" in first
            assert f"register: {register_search_attributes_command('default', one_line=True)}" in first
            assert "resumes by itself" in first
            registered = subprocess.run(register_search_attributes_command("default", one_line=True).split(),
                                        env=cli_env(server), capture_output=True, text=True, timeout=60)
            assert registered.returncode == 0, registered.stderr
            await until(lambda: bridge.state is BridgeState.RECEIVING, 60, "the bridge resumes")
            await until(lambda: depth(stack, queue_url) == 0, 60, "both messages handed over")
            stop.set()
            await asyncio.wait_for(task, 30)
        assert bridge.metrics.registry.get_sample_value("waveflow_bridge_messages_handed_over_total",
                                                        {"task": "generate_hash_and_webhook"}) == 2
        assert depth(stack, dlq_url) == 0
    finally:
        server.stop()
