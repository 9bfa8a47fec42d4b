"""Each message acted on once, whatever the interleaving: hand-overs that race another bridge, redeliveries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, services_running, until_drained, webhooks
from tests.test_reruns import runs_of
from waveflow.messages import parse_message
from worker import running_workers
from workflows.stem_ingest import start_stem


def analysis_request(stem_id: str, key: str, message_id: str) -> dict[str, Any]:
    return {"task": "app.tasks.process_audio_analysis", "id": message_id, "args": [],
            "kwargs": {"stemId": stem_id, "filepath": key, "num_peaks": 16}}


async def test_a_decision_for_a_stem_another_bridge_re_runs_meanwhile_reaches_that_re_run(
        stack: Stack, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision's first start finds the run closed; before this bridge looks at the stem, another bridge
    re-runs it. The decision must reach the re-run, not be acknowledged unsent (the re-run would wait an hour)."""
    key = "uploads/raced.wav"
    stack.standin.behaviour.send_decisions = False
    settings = stack.settings
    async with running_workers(client, settings):
        await start_stem(client, settings, parse_message(json.dumps(hash_request("raced", key))), "hash-raced-1")
        with pytest.raises(WorkflowFailureError):  # the object is not there yet
            await client.get_workflow_handle("stem-raced").result()
        stack.put(key, encode(sine(0.3)))
        real_describe = WorkflowHandle.describe

        async def describe_after_another_bridge_re_ran_it(handle: WorkflowHandle[Any, Any],
                                                          *args: Any, **kwargs: Any) -> WorkflowExecutionDescription:
            monkeypatch.setattr(WorkflowHandle, "describe", real_describe)
            fresh = {**hash_request("raced", key), "id": "hash-raced-2"}
            assert await start_stem(client, settings, parse_message(json.dumps(fresh)), "hash-raced-2") is not None
            return await real_describe(handle, *args, **kwargs)

        monkeypatch.setattr(WorkflowHandle, "describe", describe_after_another_bridge_re_ran_it)
        decision = parse_message(json.dumps(analysis_request("raced", key, "analysis-raced-1")))
        handed_to = await start_stem(client, settings, decision, "analysis-raced-1")
        [_, analysed] = await webhooks(stack, COMPLETION, 2)
        await client.get_workflow_handle("stem-raced").result()
    await asyncio.sleep(1)  # visibility lists a closed run a moment after it closed
    assert handed_to is not None, "the decision was acknowledged without reaching the re-run"
    assert analysed.body["status"] == "SUCCESS" and analysed.body["result"]["num_peaks"] == 16
    assert sorted(map(str, await runs_of(client, "raced"))) == sorted(
        map(str, [WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.COMPLETED]))


async def test_a_redelivered_decision_does_not_run_a_failed_stem_again(stack: Stack, client: Client) -> None:
    """The decision reached the run as a signal and the run failed on it; SQS then delivers the same message
    again (its visibility ran out before the bridge deleted it). Only a new hash request may run the stem again."""
    key = "uploads/cover-art.wav"
    stack.put(key, b"\x89PNG\r\n\x1a\n" + bytes(300))
    stack.standin.behaviour.send_decisions = False
    decision = analysis_request("cover-art", key, "analysis-cover-art-1")
    async with services_running(client, stack.settings):
        stack.send(hash_request("cover-art", key))
        await webhooks(stack, HASH_CHECK)
        stack.send(decision)
        [failed] = await webhooks(stack, COMPLETION)
        with pytest.raises(WorkflowFailureError):
            await client.get_workflow_handle("stem-cover-art").result()
        stack.send(decision)  # the redelivery
        await until_drained(stack)
        await asyncio.sleep(2)
    assert failed.body["result"]["error_code"] == "not_audio"
    assert await runs_of(client, "cover-art") == [WorkflowExecutionStatus.FAILED]
    assert len(stack.standin.accepted(COMPLETION)) == 1


async def test_a_hash_request_while_the_failure_is_being_reported_runs_the_stem_again(
        stack: Stack, client: Client) -> None:
    """The run failed (the object was not there yet) and is still sending its FAILURE; the server, told of the
    upload again, sends a new hash request. It must not join the failing run and vanish with it."""
    key = "uploads/second-try.wav"
    stack.standin.delay_next(COMPLETION, 2.0)
    async with services_running(client, stack.settings):
        stack.send(hash_request("second-try", key))
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        stack.put(key, encode(sine(0.3)))
        stack.send({**hash_request("second-try", key), "id": "hash-second-try-2"})
        [failed, analysed] = await webhooks(stack, COMPLETION, 2)
        outcome = await client.get_workflow_handle("stem-second-try").result()
    assert failed.body["result"]["error_code"] == "object_not_found"
    assert analysed.body["status"] == "SUCCESS" and outcome["status"] == "SUCCESS"
    assert len(stack.standin.accepted(HASH_CHECK)) == 1


async def test_a_late_decision_outlives_a_refused_failure_completion(stack: Stack, client: Client) -> None:
    """The decision timed out; while the FAILURE completion is sent the decision arrives, and the server then
    refuses the FAILURE with a final 410. The decision must still be acted on."""
    key = "uploads/refused-late.wav"
    stack.put(key, encode(sine(0.3)))
    stack.standin.behaviour.send_decisions = False
    stack.standin.delay_next(COMPLETION, 2.0)
    stack.standin.fail_next(COMPLETION, 410)
    settings = stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 1})
    async with services_running(client, settings):
        stack.send(hash_request("refused-late", key))
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        stack.send(analysis_request("refused-late", key, "analysis-refused-late-1"))
        await until_drained(stack)
        [analysed] = await webhooks(stack, COMPLETION)
        outcome = await client.get_workflow_handle("stem-refused-late").result()
    statuses = [item.status for item in stack.standin.received if item.path == COMPLETION]
    assert statuses[0] == 410 and len(statuses) == 2 and statuses[1] < 300
    assert analysed.body["status"] == "SUCCESS" and outcome["status"] == "SUCCESS"


async def test_a_succeeded_stem_past_the_namespace_retention_does_not_run_again(stack: Stack, client: Client) -> None:
    """Past the retention Temporal has no run of the stem, while SQS can still deliver its messages (a redrive from
    the dead-letter queue starts their retention again). Deleting the closed run is what retention does to it."""
    key = "uploads/remembered.wav"
    stack.put(key, encode(sine(0.3)))
    handle = client.get_workflow_handle("stem-remembered")
    async with services_running(client, stack.settings):
        stack.send(hash_request("remembered", key))
        [succeeded] = await webhooks(stack, COMPLETION)
        await handle.result()
        run_id = (await handle.describe()).run_id
        await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id="stem-remembered")))
        while await forgotten(handle) is False:
            await asyncio.sleep(0.1)
        stack.send(hash_request("remembered", key))
        stack.send(analysis_request("remembered", key, "analysis-remembered-1"))
        await until_drained(stack)
        await asyncio.sleep(2)
    assert succeeded.body["status"] == "SUCCESS"
    record = json.loads(stack.get("waveflow/succeeded/remembered.json"))
    assert record["run_id"] == run_id and record["outcome"] == "analysed"
    assert record["audio_hash"] == succeeded.body["result"]["audio_data_hash"]
    assert await forgotten(handle), "no run started again"
    assert len(stack.standin.accepted(HASH_CHECK)) == 1 and len(stack.standin.accepted(COMPLETION)) == 1


async def forgotten(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False
