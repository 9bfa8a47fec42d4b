"""Rolling deploys: a worker host replaced while stems wait for their decision costs them no pick-up timeout."""

from __future__ import annotations

import time
from pathlib import Path

from temporalio.client import Client

from devstack.processes import spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, bridge_running, hash_request, webhooks
from waveflow.contract import DedupeDecision
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
