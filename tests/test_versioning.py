"""A deploy with stems in flight: stems started on today's code finish on their path after the workers are
replaced by workers with a changed workflow; new stems take the new path; no workflow task fails."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack.processes import ROOT, TemporalDevServer, spawn, stop_process
from tests.audio_samples import encode, sine
from tests.changed_workflow import ADDED_STEP_MEMO, ADDED_STEP_PATCH, took_the_patch
from tests.conftest import COMPLETION, HASH_CHECK, Stack, bridge_running, cli_env, hash_request, webhooks
from tests.history_steps import steps_of
from waveflow.contract import DedupeDecision
from workflows.stem_ingest import StemIngestWorkflow


async def until_awaiting_decision(client: Client, stem_id: str) -> None:
    handle = client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{stem_id}")
    while (await handle.query(StemIngestWorkflow.status)).phase != "awaiting_decision":
        await asyncio.sleep(0.1)


async def run_readme_count(temporal_server: TemporalDevServer, stack: Stack) -> int:
    """The README's count of running stems from before a patch, as written, for this test's stems."""
    readme = (ROOT / "README.md").read_text()
    command = readme.split("<!-- old-code-count -->`")[1].split("`<!-- /old-code-count -->")[0]
    command = command.replace('--query "', f'--query "TaskQueue = \'{stack.settings.temporal_task_queue}\' AND ')
    env = cli_env(temporal_server, PATCH=ADDED_STEP_PATCH)
    done = await asyncio.to_thread(subprocess.run, ["bash", "-c", command], env=env, capture_output=True,
                                   text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split(":")[-1])


async def test_workers_replaced_by_a_changed_workflow_keep_old_stems_on_their_path(
        stack: Stack, client: Client, tmp_path: Path, temporal_server: TemporalDevServer) -> None:
    stack.standin.behaviour.send_decisions = False
    old_stems, new_stems = ["v-old-0", "v-old-1", "v-old-2"], ["v-new-0", "v-new-1"]
    for index, stem_id in enumerate(old_stems + new_stems):
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.3, frequency=300.0 + 50 * index)))
    env = stack.env()  # the same host id and temp area: a rolling restart of one host
    async with bridge_running(client, stack.settings):
        worker = spawn("worker.py", env, tmp_path / "today.log")
        try:
            for stem_id in old_stems:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            await webhooks(stack, HASH_CHECK, len(old_stems))
            for stem_id in old_stems:
                await until_awaiting_decision(client, stem_id)
        finally:
            stop_process(worker)
        worker = spawn("tests.changed_worker", env, tmp_path / "tomorrow.log")
        try:
            for stem_id in new_stems:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            hash_checks = await webhooks(stack, HASH_CHECK, len(old_stems + new_stems))
            for stem_id in new_stems:
                await until_awaiting_decision(client, stem_id)
            still_on_old_code = await run_readme_count(temporal_server, stack)
            for hash_check in hash_checks:
                body = hash_check.body
                stack.send({"task": "app.tasks.process_audio_analysis", "id": f"analysis-{body['stemId']}-1",
                            "args": [], "kwargs": {"stemId": body["stemId"], "filepath": body["filepath"],
                                                   "audio_hash": body["audio_hash"], "num_peaks": 100}})
            completions = await webhooks(stack, COMPLETION, len(old_stems + new_stems), timeout=120)
            for stem_id in old_stems + new_stems:
                await client.get_workflow_handle(f"stem-{stem_id}").result()
        finally:
            stop_process(worker)
    assert still_on_old_code == len(old_stems)
    assert all(item.body["status"] == "SUCCESS" for item in completions)
    for stem_id in old_stems + new_stems:
        handle = client.get_workflow_handle(f"stem-{stem_id}")
        events = [event async for event in handle.fetch_history_events()]
        kinds = [event.event_type for event in events]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds, f"{stem_id} hit a failed workflow task"
        patched = [event for event in events if "patch-data" in event.marker_recorded_event_attributes.details
                   and ADDED_STEP_PATCH.encode() in event.marker_recorded_event_attributes.details[
                       "patch-data"].payloads[0].data]
        modified = kinds.count(EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED)
        memo = await (await handle.describe()).memo()
        if stem_id in old_stems:
            assert (patched, modified) == ([], 0) and ADDED_STEP_MEMO not in memo, f"{stem_id} took the new path"
            assert ("analyse_small_and_complete", "local") in steps_of(events), \
                "a small stem is analysed in its decision's task"
        else:
            assert len(patched) == 1 and modified == 1 and ADDED_STEP_MEMO in memo, f"{stem_id} took the old path"
    assert "Nondeterminism" not in (tmp_path / "tomorrow.log").read_text()
    assert json.loads(completions[0].raw_body)["result"]["num_peaks"] == 100


async def test_a_mixed_fleet_and_a_rollback_leave_no_stem_stuck(stack: Stack, client: Client, tmp_path: Path) -> None:
    """Today's and tomorrow's workers poll together (a rolling deploy half done); then tomorrow's is rolled back
    while some of its stems wait, and later rolled forward again. Stems started by tomorrow's code carry its patch
    marker: today's code cannot replay them, so their workflow tasks fail on it (non-determinism, retried) until
    tomorrow's code runs again. Every stem ends once; only patched stems ever fail a workflow task."""
    today_env = {**stack.env(), "WORKER_HOST_ID": "today", "TEMP_DIR": str(tmp_path / "today")}
    tomorrow_env = {**stack.env(), "WORKER_HOST_ID": "tomorrow", "TEMP_DIR": str(tmp_path / "tomorrow")}
    mixed = [f"mixed-{index}" for index in range(6)]
    rolled_back = [f"rolled-back-{index}" for index in range(6)]
    for index, stem_id in enumerate(mixed + rolled_back):
        stack.put(f"uploads/{stem_id}.wav", encode(sine(0.3, frequency=200.0 + 20 * index)))
    today = spawn("worker.py", today_env, tmp_path / "today.log")
    tomorrow = spawn("tests.changed_worker", tomorrow_env, tmp_path / "tomorrow-1.log")
    try:
        async with bridge_running(client, stack.settings):
            for stem_id in mixed:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            await webhooks(stack, COMPLETION, len(mixed), timeout=120)
            stack.standin.behaviour.send_decisions = False
            for stem_id in rolled_back:
                stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            await webhooks(stack, HASH_CHECK, len(mixed + rolled_back))
            for stem_id in rolled_back:
                await until_awaiting_decision(client, stem_id)
            stop_process(tomorrow)  # the rollback
            for stem_id in rolled_back:
                await client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{stem_id}").signal(
                    StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath=f"uploads/{stem_id}.wav"))
            await asyncio.sleep(8)
            during_rollback = len(stack.standin.accepted(COMPLETION))
            tomorrow = spawn("tests.changed_worker", tomorrow_env, tmp_path / "tomorrow-2.log")  # rolled forward
            completions = await webhooks(stack, COMPLETION, len(mixed + rolled_back), timeout=120)
    finally:
        stop_process(tomorrow)
        stop_process(today)
    assert sorted(item.body["stemId"] for item in completions) == sorted(mixed + rolled_back)
    assert all(item.body["status"] == "SUCCESS" for item in completions)
    failed_tasks: dict[str, int] = {}
    patched = set()
    for stem_id in mixed + rolled_back:
        events = [event async for event in client.get_workflow_handle(f"stem-{stem_id}").fetch_history_events()]
        failed_tasks[stem_id] = sum(event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for event in events)
        if took_the_patch(events):
            patched.add(stem_id)
    print(f"patched stems: {sorted(patched)}; workflow tasks failed per stem: {failed_tasks}; "
          f"completed during the rollback: {during_rollback}")
    assert {stem_id for stem_id, count in failed_tasks.items() if count} <= patched
    assert patched, "tomorrow's worker started none of the stems: the fleet was not mixed"
    assert during_rollback == len(mixed) + len(set(rolled_back) - patched), "only today's stems went on"
