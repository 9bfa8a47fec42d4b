"""Scale-out on one machine: two worker hosts and two bridges take a burst; one host is SIGKILLed mid-burst."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from temporalio.client import Client

from devstack.processes import spawn, stop_process
from tests.audio_samples import encode
from tests.conftest import COMPLETION, HASH_CHECK, Stack, distinct_webhooks, hash_request
from tests.history_steps import local_activity_result, local_activity_type

STEMS = 300


def noise(index: int) -> bytes:
    """A tenth of a second, different for every stem so that none is a duplicate."""
    return encode(np.random.default_rng(index).uniform(-0.5, 0.5, (4410, 2)))


async def analysed_away_from_its_download(client: Client, stem_id: str, shared_queue: str) -> bool:
    """Whether the stem's analysis ran on another host than its download's and fetched the object again: the local
    analysis reports it, the analysis activity's fallback runs on the shared queue."""
    async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events():
        if local_activity_type(event) == "analyse_small_and_complete":
            reported = local_activity_result(event)
            if isinstance(reported, dict) and reported["outcome"].get("fetched_again"):
                return True
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == "analyse_audio" and scheduled.task_queue.name == shared_queue:
            return True
    return False


async def report_unfinished(client: Client, stack: Stack, stems: list[str]) -> None:
    """For a stem with no completion: where its workflow stands (status, pending activities, last events)."""
    completed = {item.body["stemId"] for item in stack.standin.accepted(COMPLETION)}
    hash_checked = {item.body["stemId"] for item in stack.standin.accepted(HASH_CHECK)}
    for stem_id in [stem_id for stem_id in stems if stem_id not in completed][:3]:
        handle = client.get_workflow_handle(f"stem-{stem_id}")
        description = await handle.describe()
        pending = [(item.activity_type.name, item.attempt, item.state, item.last_failure.message)
                   for item in description.raw_description.pending_activities]
        events = [event.event_type for event in (await handle.fetch_history()).events][-8:]
        print(f"\nunfinished {stem_id}: hash-check received {stem_id in hash_checked}, {description.status}, "
              f"pending {pending}, last events {events}")


@pytest.mark.long
@pytest.mark.timeout(600)
async def test_two_hosts_two_bridges_a_burst_and_one_host_killed(stack: Stack, client: Client,
                                                                  tmp_path: Path) -> None:
    stems = [f"burst-{index:03d}" for index in range(STEMS)]
    for index, stem_id in enumerate(stems):
        stack.put(f"uploads/{stem_id}.wav", noise(index))
    hosts = {name: {**stack.env(), "WORKER_HOST_ID": name, "TEMP_DIR": str(tmp_path / name)}
             for name in ("host-a", "host-b")}
    workers = {name: spawn("worker.py", env, tmp_path / f"{name}.log") for name, env in hosts.items()}
    bridges = [spawn("sqs_bridge.py", stack.env(), tmp_path / f"bridge-{index}.log") for index in range(2)]
    try:
        started = time.monotonic()
        sqs = stack.aws.sqs()
        for offset in range(0, STEMS, 10):
            sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=[
                {"Id": stem_id, "MessageBody": json.dumps(hash_request(stem_id, f"uploads/{stem_id}.wav"))}
                for stem_id in stems[offset:offset + 10]])
        while len(stack.standin.accepted(HASH_CHECK)) - len(stack.standin.accepted(COMPLETION)) < 20 \
                or len(stack.standin.accepted(COMPLETION)) < STEMS // 5:
            await asyncio.sleep(0.05)
        workers["host-a"].kill()
        workers["host-a"].wait()
        killed_after = len(stack.standin.accepted(COMPLETION))
        try:
            await distinct_webhooks(stack, COMPLETION, STEMS, timeout=480)
        except TimeoutError:
            await report_unfinished(client, stack, stems)
            raise
        elapsed = time.monotonic() - started
    finally:
        for process in [*bridges, *workers.values()]:
            stop_process(process)
    completions = stack.standin.unique_accepted(COMPLETION)
    assert sorted(item.body["stemId"] for item in completions.values()) == stems, "each stem completed once"
    assert all(item.body["status"] == "SUCCESS" for item in completions.values())
    assert len(stack.standin.unique_accepted(HASH_CHECK)) == STEMS
    shared = stack.settings.temporal_task_queue
    fell_back = [stem_id for stem_id in stems if await analysed_away_from_its_download(client, stem_id, shared)]
    for stem_id in stems[:: STEMS // 30]:
        assert len([run async for run in client.list_workflows(f"WorkflowId = 'stem-{stem_id}'")]) == 1
    print(f"\n{STEMS} stems in {elapsed:.0f} s on two hosts and two bridges; host-a killed after "
          f"{killed_after} completions; {len(fell_back)} analyses ran on another host after a re-download")
    assert fell_back, "the path of an analysis away from its download was exercised"
