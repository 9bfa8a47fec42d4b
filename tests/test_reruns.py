"""Failures you can see and re-run: failed executions, re-runs by new messages, late decisions, cancel, and
decisions that are checked."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError

from devstack.processes import ROOT, TemporalDevServer
from tests.audio_samples import encode, sine
from tests.conftest import (
    COMPLETION,
    HASH_CHECK,
    Stack,
    cli_env,
    hash_request,
    services_running,
    until_drained,
    webhooks,
)
from waveflow.contract import DedupeDecision
from workflows.stem_ingest import StemIngestWorkflow


async def runs_of(client: Client, stem_id: str) -> list[WorkflowExecutionStatus | None]:
    return [item.status async for item in client.list_workflows(f"WorkflowId = 'stem-{stem_id}'")]


async def test_a_failed_stem_fails_its_run_and_only_a_new_message_runs_it_again(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"temporal_search_attributes": True})
    first = hash_request("retry-me", "uploads/retry-me.wav")
    async with services_running(client, settings):
        stack.send(first)
        [failure] = await webhooks(stack, COMPLETION)
        handle = client.get_workflow_handle("stem-retry-me")
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "object_not_found"
        assert failed.value.cause.message == failure.body["result"]["error"]
        listed = [item.id async for item in client.list_workflows(
            "ExecutionStatus = 'Failed' AND WaveFlowErrorCode = 'object_not_found' AND WorkflowId = 'stem-retry-me'")]
        assert listed == ["stem-retry-me"]

        stack.send(first)  # a redelivery of the message that started the failed run
        await until_drained(stack)
        await asyncio.sleep(1)
        assert await runs_of(client, "retry-me") == [WorkflowExecutionStatus.FAILED]

        stack.put("uploads/retry-me.wav", encode(sine(0.3)))
        stack.send({**first, "id": "hash-retry-me-2"})  # the server asks again
        completions = await webhooks(stack, COMPLETION, 2)
        assert completions[1].body["status"] == "SUCCESS"
        await handle.result()
        stack.send({**first, "id": "hash-retry-me-3"})  # a succeeded stem is never run again
        await until_drained(stack)
        await asyncio.sleep(1)
    assert sorted(map(str, await runs_of(client, "retry-me"))) == sorted(
        map(str, [WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.COMPLETED]))
    keys = [item.headers["Idempotency-Key"] for item in stack.standin.accepted(COMPLETION)]
    assert len(keys) == 2 and keys[0] != keys[1], "each run's webhooks carry their own idempotency key"
    assert len(stack.standin.accepted(HASH_CHECK)) == 1


async def test_a_decision_after_the_decision_timeout_is_acted_upon(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 2})
    stack.standin.behaviour.send_decisions = False
    stack.put("uploads/slow-server.wav", encode(sine(0.3)))
    async with services_running(client, settings):
        stack.send(hash_request("slow-server", "uploads/slow-server.wav"))
        [timed_out] = await webhooks(stack, COMPLETION)
        assert timed_out.body["result"]["error_code"] == "decision_timeout"
        with pytest.raises(WorkflowFailureError):
            await client.get_workflow_handle("stem-slow-server").result()
        stack.send({"task": "app.tasks.process_audio_analysis", "id": "analysis-slow-server-1", "args": [],
                    "kwargs": {"stemId": "slow-server", "filepath": "uploads/slow-server.wav", "num_peaks": 32,
                               "upstreamId": "up-7"}})
        [_, analysed] = await webhooks(stack, COMPLETION, 2)
    assert analysed.body["status"] == "SUCCESS" and analysed.body["result"]["num_peaks"] == 32
    assert analysed.body["upstreamId"] == "up-7"
    assert len(stack.standin.accepted(HASH_CHECK)) == 1, "the decision-only run sends no hash-check"


async def test_a_decision_while_the_timeout_failure_is_being_reported_continues_as_the_decided_run(
        stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 1})
    stack.standin.behaviour.send_decisions = False
    stack.standin.fail_next(COMPLETION, 503, 503, 503)
    stack.standin.delay_next(COMPLETION, 1.0)
    stack.put("uploads/just-late.wav", encode(sine(0.3)))
    async with services_running(client, settings):
        stack.send(hash_request("just-late", "uploads/just-late.wav"))
        await webhooks(stack, HASH_CHECK)
        handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-just-late")
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        late = DedupeDecision(duplicate=False, filepath="uploads/just-late.wav")
        await handle.signal(StemIngestWorkflow.decide, late)
        [timed_out, analysed] = await webhooks(stack, COMPLETION, 2, timeout=90)
        outcome = await handle.result()
    assert timed_out.body["result"]["error_code"] == "decision_timeout"
    assert analysed.body["status"] == "SUCCESS" and outcome.status == "SUCCESS"


async def test_cancel_sends_a_cancelled_failure_keeps_the_original_and_removes_temp_files(
        stack: Stack, client: Client, temporal_server: TemporalDevServer) -> None:
    stack.standin.behaviour.send_decisions = False
    stack.put("uploads/cancel-me.wav", encode(sine(0.3)))
    env = cli_env(temporal_server)
    async with services_running(client, stack.settings):
        stack.send(hash_request("cancel-me", "uploads/cancel-me.wav"))
        await webhooks(stack, HASH_CHECK)
        assert stack.temp_files() != []
        done = await asyncio.to_thread(subprocess.run, ["temporal", "workflow", "cancel", "--workflow-id",
                                                        "stem-cancel-me"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        [completion] = await webhooks(stack, COMPLETION)
        with pytest.raises(WorkflowFailureError) as ended:
            await client.get_workflow_handle("stem-cancel-me").result()
    assert isinstance(ended.value.cause, CancelledError)
    assert completion.body["status"] == "FAILURE"
    assert completion.body["result"] == {"error": "the stem was cancelled; the original file is kept",
                                         "error_code": "cancelled"}
    assert "uploads/cancel-me.wav" in stack.object_keys()
    assert stack.temp_files() == []
    assert await runs_of(client, "cancel-me") == [WorkflowExecutionStatus.CANCELED]


def readme_update_command() -> str:
    [command] = re.findall(r"`(temporal workflow update execute [^`]*)`", (ROOT / "README.md").read_text())
    return command


async def test_the_decide_update_refuses_answers_and_records_a_second_decision(
        stack: Stack, client: Client, temporal_server: TemporalDevServer) -> None:
    key = "uploads/user-1/track-1/drums.wav"
    stack.standin.behaviour.send_decisions = False
    stack.put(key, encode(sine(0.3)))
    # The analysis by activity, so that the run still waits for it when the second decision comes: a small stem's
    # local analysis ends the run in the workflow task that takes the first.
    async with services_running(client, stack.settings.model_copy(update={"local_download_max_mb": 0})):
        stack.send(hash_request("checked", key))
        [hash_check] = await webhooks(stack, HASH_CHECK)
        audio_hash = hash_check.body["audio_hash"]
        handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-checked")
        for wrong, reason in [
            (DedupeDecision(duplicate=True, filepath="uploads/other.wav", audio_hash=audio_hash),
             f"the decision names 'uploads/other.wav' but this stem's object is '{key}'"),
            (DedupeDecision(duplicate=True, filepath=key, audio_hash="f" * 64),
             f"differs from the hash WaveFlow computed ({audio_hash})"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(StemIngestWorkflow.decide_checked, wrong)
            assert reason in str(refused.value.cause)
        env = cli_env(temporal_server, STEM_ID="checked")
        done = await asyncio.to_thread(subprocess.run, ["bash", "-c", readme_update_command()], env=env,
                                       capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "outcome:accepted" in done.stdout, done.stdout + done.stderr
        decision = DedupeDecision(duplicate=False, filepath=key)
        other = DedupeDecision(duplicate=True, filepath=key, audio_hash=audio_hash)
        again = await handle.execute_update(StemIngestWorkflow.decide_checked, other)
        assert again.outcome == "already_decided" and again.decision_in_force == decision
        await handle.signal(StemIngestWorkflow.decide, decision)  # a redelivered copy: nothing to record
        [completion] = await webhooks(stack, COMPLETION)
        status = await handle.query(StemIngestWorkflow.status)
    assert completion.body["status"] == "SUCCESS" and completion.body["result"]["num_peaks"] == 1024
    assert status.decision == decision and status.conflicting_decisions == [other]
    assert key in stack.object_keys()


def failed_stem_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- failed-stem-commands -->")[1].split("<!-- /failed-stem-commands -->")[0]
    return [line for line in block.splitlines() if line.startswith(("temporal ", "waveflow-rerun "))]


async def run_command(command: str, env: dict[str, str]) -> str:
    done = await asyncio.to_thread(subprocess.run, ["bash", "-c", command], env=env, capture_output=True, text=True,
                                   timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def test_readme_failed_stem_commands_work_as_written_and_twice(stack: Stack, client: Client,
                                                                     temporal_server: TemporalDevServer) -> None:
    """Four stems fail. The first fails before SINCE and is re-run alone; the others fail after it. The fourth is
    re-run by a new request and waits for its decision while the batch command runs: it is left alone. Both
    re-run commands, run again, start nothing."""
    settings = stack.settings.model_copy(update={"temporal_search_attributes": True})
    stems = [f"lost-{stack.bucket}-{index}" for index in range(4)]
    waiting = stems[3]
    list_failed, rerun_one, rerun_batch = failed_stem_commands()
    async with services_running(client, settings):
        for index, stem_id in enumerate(stems):
            if index == 1:
                await asyncio.sleep(1.1)  # CloseTime has a resolution of a second
                since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
            await webhooks(stack, COMPLETION, index + 1)
            with pytest.raises(WorkflowFailureError):
                await client.get_workflow_handle(f"stem-{stem_id}").result()
        for index, stem_id in enumerate(stems):
            stack.put(f"uploads/{stem_id}.wav", encode(sine(0.2, frequency=200.0 + 100 * index)))
        stack.standin.behaviour.send_decisions = False
        stack.send({**hash_request(waiting, f"uploads/{waiting}.wav"), "id": f"hash-{waiting}-again"})
        await webhooks(stack, HASH_CHECK)
        waiting_run = (await client.get_workflow_handle(f"stem-{waiting}").describe()).run_id
        stack.standin.behaviour.send_decisions = True

        env = cli_env(temporal_server, STEM_ID=stems[0], SINCE=since)
        listed = await run_command(list_failed, env)
        first = await run_command(rerun_one, env)
        batch = await run_command(rerun_batch, env)
        completions = await webhooks(stack, COMPLETION, len(stems) + 3, timeout=120)
        again = [await run_command(rerun_one, env), await run_command(rerun_batch, env)]
        await asyncio.sleep(2)
        waiting_now = await client.get_workflow_handle(f"stem-{waiting}").describe()
        await client.get_workflow_handle_for(StemIngestWorkflow.run, f"stem-{waiting}").signal(
            StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath=f"uploads/{waiting}.wav"))
        await webhooks(stack, COMPLETION, len(stems) + 4)
    assert all(f"stem-{stem_id}" in listed for stem_id in stems)
    assert f"stem-{stems[0]}: running again" in first
    for stem_id in stems[1:3]:
        assert f"stem-{stem_id}: running again" in batch
    assert f"stem-{waiting}: left alone" in batch and "2 stems running again" in batch
    assert all("0 stems running again" in output for output in again), again
    assert waiting_now.run_id == waiting_run and waiting_now.status == WorkflowExecutionStatus.RUNNING
    assert len(completions) == len(stems) + 3
    succeeded = sorted(item.body["stemId"] for item in stack.standin.accepted(COMPLETION)
                       if item.body["status"] == "SUCCESS")
    assert succeeded == sorted(stems), "each failed stem ran again exactly once"
    for stem_id in stems:
        assert sorted(map(str, await runs_of(client, stem_id))) == sorted(
            map(str, [WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.COMPLETED]))
