"""Rolling deploys: a worker host replaced while stems wait for their decision costs them no pick-up timeout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from devstack.processes import spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, bridge_running, hash_request, webhooks
from waveflow.contract import DedupeDecision
from worker import running_workers
from workflows.stem_ingest import StemIngestWorkflow

STEMS = [f"deployed-{index}" for index in range(3)]


async def test_stems_whose_host_was_replaced_are_analysed_elsewhere_at_once(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    """Host A downloads three stems and is shut down (SIGTERM) while they wait; host B, with an empty temp area
    as a new pod has, takes over. Before, each analysis waited out A's pick-up timeout (60 s), then the temp
    removal waited for it again."""
    stack.standin.behaviour.send_decisions = False
    for stem_id in STEMS:
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.5)))
    old_host = spawn("worker.py", {**stack.env(), "WORKER_HOST_ID": "host-a"}, tmp_path / "host-a.log")
    async with bridge_running(client, stack.settings):
        for stem_id in STEMS:
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        await webhooks(stack, HASH_CHECK, len(STEMS))
        stop_process(old_host)
        new_host = spawn("worker.py", {**stack.env(), "WORKER_HOST_ID": "host-b", "TEMP_DIR": str(tmp_path / "b")},
                         tmp_path / "host-b.log")
        try:
            decided = time.monotonic()
            for stem_id in STEMS:
                await client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{stem_id}").signal(
                    StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath=f"uploads/{stem_id}.wav"))
            completions = await webhooks(stack, COMPLETION, len(STEMS), timeout=150)
            took = time.monotonic() - decided
        finally:
            stop_process(new_host)
    assert all(item.body["status"] == "SUCCESS" for item in completions)
    assert took < 20, f"the decisions took {took:.0f} s to complete"
    assert "worker stopped; 3 waiting stems told to use another host" in (tmp_path / "host-a.log").read_text()
    for stem_id in STEMS:
        queues = [event.activity_task_scheduled_event_attributes.task_queue.name async for event in
                  client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()
                  if event.HasField("activity_task_scheduled_event_attributes")]
        assert not [queue for queue in queues[1:] if queue.endswith("@host-a")], queues


async def test_a_host_back_in_place_removes_the_download_of_a_stem_that_ended_while_it_was_away(
        stack: Stack, client: Client, tmp_path: Path) -> None:
    """Found by the chaos runner (seed 554165): a stem cancelled during a rolling deploy left its download on the
    host being replaced until the sweep, half an hour later."""
    env = {**stack.env(), "WORKER_HOST_ID": "in-place", "TEMP_DIR": str(tmp_path / "temp")}
    stack.put("uploads/away.wav", encode(sine(0.3)))
    stack.standin.behaviour.undecided_stems.add("away")
    worker = spawn("worker.py", env, tmp_path / "worker-1.log")
    try:
        async with bridge_running(client, stack.settings):
            stack.send(hash_request("away", "uploads/away.wav"))
            await webhooks(stack, HASH_CHECK)
        download = [path.name for path in (tmp_path / "temp").iterdir()]
        assert len(download) == 1 and download[0].startswith("waveflow-stem-away-"), download
        stop_process(worker)  # the host leaves, its file stays on its disk
        other = stack.settings.model_copy(update={"worker_host_id": "other", "temp_dir": tmp_path / "other"})
        async with running_workers(client, other):
            handle = client.get_workflow_handle("stem-away")
            await handle.cancel()
            [completion] = await webhooks(stack, COMPLETION)
            with pytest.raises(WorkflowFailureError):
                await handle.result()  # ended before its host is back
        assert completion.body["result"]["error_code"] == "cancelled"
        assert [path.name for path in (tmp_path / "temp").iterdir()] == download
        worker = spawn("worker.py", env, tmp_path / "worker-2.log")  # back in place, same disk
        deadline = time.monotonic() + 60
        while any((tmp_path / "temp").iterdir()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        stop_process(worker)
    assert not any((tmp_path / "temp").iterdir())
    assert "removed 1 temp files of stems no run owns any more" in (tmp_path / "worker-2.log").read_text()
