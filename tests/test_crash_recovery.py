"""A worker killed with SIGKILL in the middle of a stem: a new worker finishes the stem, once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from devstack.processes import stop_process
from tests.conftest import COMPLETION, Stack, bridge_running, hash_request
from tests.processes import spawn
from tests.signals import encode, sine
from workflows.stem_ingest import StemIngestWorkflow


async def wait_for_stage(client: Client, workflow_id: str, stage: str, timeout: float = 60) -> None:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):  # the bridge may not have started it yet
            if (await handle.query(StemIngestWorkflow.status)).stage == stage:
                return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{workflow_id} never reached {stage}")


async def test_worker_killed_during_analysis_restarts_and_completes_once(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    audio = encode(sine(600, channels=2))
    stack.put("uploads/long.wav", audio)
    log = tmp_path / "worker.log"
    worker = spawn("worker.py", stack.env(), log)
    try:
        async with bridge_running(client, stack.settings):
            stack.send(hash_request("long", "uploads/long.wav"))
            await wait_for_stage(client, "stem-long", "analysing")
            worker.kill()
            worker.wait()
            worker = spawn("worker.py", stack.env(), log)
            handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-long")
            outcome = await asyncio.wait_for(handle.result(), 90)
    finally:
        stop_process(worker)
    assert outcome.status == "SUCCESS"
    assert outcome.completion.result.duration == 600.0
    assert len(stack.standin.accepted(COMPLETION)) == 1
    assert len(stack.standin.accepted("/webhook/hash-check")) == 1
    events = [event async for event in handle.fetch_history_events()]
    analyse_attempts = [event for event in events if event.HasField("activity_task_started_event_attributes")
                        and event.activity_task_started_event_attributes.attempt > 1]
    assert analyse_attempts, "the killed analysis was retried"
    assert "uploads/long.wav" in stack.object_keys()
    assert stack.temp_files() == []
