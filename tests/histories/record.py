"""Records the replay suite: real runs of every workflow path on the embedded stack, saved as history JSON.

After a change to workflow code that is meant to change histories (and is guarded by `workflow.patched`), add
the new path here and record, from the project root:

    .venv/bin/python -m tests.histories.record              # every scenario (about 2 minutes: one waits out a host)
    .venv/bin/python -m tests.histories.record analysed     # only the scenarios named
    .venv/bin/python -m tests.histories.record --search-attributes analysed damaged_audio   # into search_attributes/

Keep the histories recorded by older code: they are what running stems look like.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from devstack.local_aws import LocalAws
from devstack.processes import TemporalDevServer, free_port
from temporal_client import connect
from tests.audio_samples import encode, sine
from tests.conftest import (
    COMPLETION,
    HASH_CHECK,
    Stack,
    bridge_running,
    hash_request,
    new_stack,
    services_running,
    webhooks,
)
from tests.test_mixing import mix_message
from tests.test_workflow_logic import fake_fleet, until
from tests.test_workflow_logic import start_stem as start_fake_stem
from waveflow.contract import DedupeDecision, MixRequest, WebhookKind
from waveflow.models import MixStemsInput
from worker import running_workers
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow
from workflows.mix_stems import MixStemsWorkflow
from workflows.stem_ingest import StemIngestWorkflow, tell_stems_about_their_host

HERE = Path(__file__).parent
SEARCH_ATTRIBUTES_DIR = HERE / "search_attributes"
"""Stems recorded with TEMPORAL_SEARCH_ATTRIBUTES=true: their histories carry the upserts."""
MIXING_COMPLETE = "/webhook/mixing-complete"
KEY = "uploads/user-1/track-1/stem.wav"
Scenario = Callable[[Client, Stack], Awaitable[str]]
"""Runs one path to its end and returns the workflow id whose runs are recorded."""


async def until_phase(client: Client, workflow_id: str, phase: str) -> None:
    """Waits until the stem, once the bridge started it, reports `phase`."""
    handle = client.get_workflow_handle_for(StemIngestWorkflow.run, workflow_id)
    while True:
        with contextlib.suppress(RPCError):
            if (await handle.query(StemIngestWorkflow.status)).phase == phase:
                return
        await asyncio.sleep(0.1)


async def analysed(client: Client, stack: Stack) -> str:
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(hash_request("analysed", KEY))
        await webhooks(stack, COMPLETION)
    return "stem-analysed"


async def duplicate_deleted(client: Client, stack: Stack) -> str:
    audio = encode(sine(0.5))
    stack.put(KEY, audio)
    stack.put("uploads/user-1/track-1/copy.wav", audio)
    async with services_running(client, stack.settings):
        stack.send(hash_request("original", KEY))
        await webhooks(stack, COMPLETION)
        stack.send(hash_request("copy", "uploads/user-1/track-1/copy.wav"))
        await webhooks(stack, COMPLETION, 2)
    return "stem-copy"


async def decision_timeout(client: Client, stack: Stack) -> str:
    stack.standin.behaviour.send_decisions = False
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 2})):
        stack.send(hash_request("undecided", KEY))
        await webhooks(stack, COMPLETION)
    return "stem-undecided"


async def decision_only(client: Client, stack: Stack) -> str:
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send({"task": "app.tasks.process_audio_analysis", "id": "analysis-late-1", "args": [],
                    "kwargs": {"stemId": "decided-only", "filepath": KEY, "num_peaks": 64, "upstreamId": "up-1"}})
        await webhooks(stack, COMPLETION)
    return "stem-decided-only"


async def host_fallback(client: Client, stack: Stack) -> str:
    """The host holding the download is gone when the decision comes: another host fetches and analyses."""
    return await decided_on_another_host(client, stack, "fallback", host_says_it_left=False)


async def host_left(client: Client, stack: Stack) -> str:
    """The host holding the download shuts down and says so: the analysis starts on another host at once."""
    return await decided_on_another_host(client, stack, "left", host_says_it_left=True)


async def decided_on_another_host(client: Client, stack: Stack, stem_id: str, *, host_says_it_left: bool) -> str:
    stack.standin.behaviour.send_decisions = False
    stack.put(KEY, encode(sine(0.5)))
    other_host = stack.settings.model_copy(update={"worker_host_id": f"{stack.settings.worker_host_id}-b",
                                                   "temp_dir": stack.settings.temp_dir.parent / "host-b"})
    async with bridge_running(client, stack.settings):
        async with running_workers(client, stack.settings):
            stack.send(hash_request(stem_id, KEY))
            await webhooks(stack, HASH_CHECK)
            await until_phase(client, f"stem-{stem_id}", "awaiting_decision")
            if host_says_it_left:
                await tell_stems_about_their_host(client, stack.settings, {stem_id}, left=True)
        async with running_workers(client, other_host):
            await client.get_workflow_handle(f"stem-{stem_id}").signal(
                "decide", DedupeDecision(duplicate=False, filepath=KEY))
            await webhooks(stack, COMPLETION, timeout=180)
    return f"stem-{stem_id}"


async def hash_check_rejected(client: Client, stack: Stack) -> str:
    stack.standin.fail_next(HASH_CHECK, 400)
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(hash_request("rejected", KEY))
        await webhooks(stack, COMPLETION)
    return "stem-rejected"


async def completion_rejected(client: Client, stack: Stack) -> str:
    stack.standin.fail_next(COMPLETION, 400)
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(hash_request("bounced", KEY))
        while not any(item.path == COMPLETION for item in stack.standin.received):
            await asyncio.sleep(0.1)
        await until_phase(client, "stem-bounced", "failed")
    return "stem-bounced"


async def damaged_audio(client: Client, stack: Stack) -> str:
    stack.put(KEY, encode(sine(2.0))[:30000])
    async with services_running(client, stack.settings):
        stack.send(hash_request("damaged", KEY))
        await webhooks(stack, COMPLETION)
    return "stem-damaged"


async def object_missing(client: Client, stack: Stack) -> str:
    async with services_running(client, stack.settings):
        stack.send(hash_request("missing", KEY))
        await webhooks(stack, COMPLETION)
    return "stem-missing"


async def cancelled(client: Client, stack: Stack) -> str:
    stack.standin.behaviour.send_decisions = False
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(hash_request("cancelled", KEY))
        await webhooks(stack, HASH_CHECK)
        await until_phase(client, "stem-cancelled", "awaiting_decision")
        await client.get_workflow_handle("stem-cancelled").cancel()
        await webhooks(stack, COMPLETION)
    return "stem-cancelled"


async def rerun_after_failure(client: Client, stack: Stack) -> str:
    """The object was missing; once it is there, the server's next hash request runs the stem again."""
    first = hash_request("rerun", KEY)
    async with services_running(client, stack.settings):
        stack.send(first)
        await webhooks(stack, COMPLETION)
        await wait_closed(client.get_workflow_handle("stem-rerun"))
        stack.put(KEY, encode(sine(0.5)))
        stack.send({**first, "id": "hash-rerun-2"})
        await webhooks(stack, COMPLETION, 2)
    return "stem-rerun"


async def late_decision(client: Client, stack: Stack) -> str:
    """A decision while the decision_timeout failure is reported: the run continues as the decided run."""
    stack.standin.behaviour.send_decisions = False
    stack.standin.fail_next(COMPLETION, 503, 503)
    stack.standin.delay_next(COMPLETION, 1.0)
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 1})):
        stack.send(hash_request("late", KEY))
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        await client.get_workflow_handle("stem-late").signal("decide", DedupeDecision(duplicate=False, filepath=KEY))
        await webhooks(stack, COMPLETION, 2)
    return "stem-late"


async def requested_while_failing(client: Client, stack: Stack) -> str:
    """A new hash request while the object_not_found failure is reported: the run continues as a new run."""
    stack.standin.delay_next(COMPLETION, 1.0)
    async with services_running(client, stack.settings):
        stack.send(hash_request("asked-again", KEY))
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        stack.put(KEY, encode(sine(0.5)))
        stack.send({**hash_request("asked-again", KEY), "id": "hash-asked-again-2"})
        await webhooks(stack, COMPLETION, 2)
    return "stem-asked-again"


async def late_decision_refused(client: Client, stack: Stack) -> str:
    """A late decision while the decision_timeout failure is refused with a final 410: the decided run follows."""
    stack.standin.behaviour.send_decisions = False
    stack.standin.delay_next(COMPLETION, 1.0)
    stack.standin.fail_next(COMPLETION, 410)
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings.model_copy(update={"dedupe_decision_timeout_seconds": 1})):
        stack.send(hash_request("late-refused", KEY))
        await asyncio.to_thread(stack.standin.wait_until_in_progress, COMPLETION)
        await client.get_workflow_handle("stem-late-refused").signal(
            "decide", DedupeDecision(duplicate=False, filepath=KEY))
        await webhooks(stack, COMPLETION)
    return "stem-late-refused"


async def hash_check_past_local_retries(client: Client, stack: Stack) -> str:
    """The hash-check refused with 503 past its local attempts: a regular activity delivers it."""
    stack.standin.fail_next(HASH_CHECK, 503, 503, 503)
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(hash_request("outlasted", KEY))
        await webhooks(stack, COMPLETION, timeout=120)
    return "stem-outlasted"


async def cancelled_while_downloading(client: Client, stack: Stack) -> str:
    """A cancel while the download runs (fake steps: the workflow's commands are what replay checks)."""
    async with fake_fleet(client) as fleet:
        fleet.steps.hold_download = asyncio.Event()
        handle = await start_fake_stem(fleet, "cancel-downloading")
        await until(lambda: fleet.steps.calls, "the download")
        return await cancelled_and_closed(handle)


async def cancelled_while_analysing(client: Client, stack: Stack) -> str:
    """A cancel while the analysis runs, on the host that holds the file."""
    async with fake_fleet(client) as fleet:
        fleet.steps.hold_analysis = asyncio.Event()
        handle = await start_fake_stem(fleet, "cancel-analysing")
        await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
        await handle.signal(StemIngestWorkflow.decide,
                            DedupeDecision(duplicate=False, filepath="uploads/cancel-analysing.wav"))
        await until(lambda: any(call.startswith("analyse") for call in fleet.steps.calls), "the analysis")
        return await cancelled_and_closed(handle)


async def mix_host_fallback(client: Client, stack: Stack) -> str:
    """The mixing host stops picking up work after it was claimed: the mix runs on any worker (fake steps)."""
    async with fake_fleet(client) as fleet:
        fleet.steps.claimed_host = f"{fleet.task_queue}@gone"
        handle = await client.start_workflow(
            MixStemsWorkflow.run, MixStemsInput(request=MixRequest(stageId="stage-fallback", upstreamId="up-1",
                                                                   stem_paths=["uploads/a.wav", "uploads/b.wav"]),
                                                task_id="mixing-stage-fallback-1"),
            id=f"mix-fallback-{fleet.task_queue}", task_queue=fleet.task_queue)
        await handle.result()
        return handle.id


async def cancelled_and_closed(handle: WorkflowHandle[Any, Any]) -> str:
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle.id


async def decided_by_update(client: Client, stack: Stack) -> str:
    """Two updates, the second one refused while the analysis runs: an activity, as no object is local here (a
    small stem's local analysis ends its run in the workflow task that takes the first)."""
    stack.standin.behaviour.send_decisions = False
    stack.put(KEY, encode(sine(0.5)))
    async with services_running(client, stack.settings.model_copy(update={"local_download_max_mb": 0})):
        stack.send(hash_request("updated", KEY))
        [hash_check] = await webhooks(stack, HASH_CHECK)
        handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-updated")
        decision = DedupeDecision(duplicate=False, filepath=KEY, audio_hash=hash_check.body["audio_hash"])
        await handle.execute_update(StemIngestWorkflow.decide_checked, decision)
        await handle.execute_update(StemIngestWorkflow.decide_checked, decision.model_copy(update={"duplicate": True}))
        await webhooks(stack, COMPLETION)
    return "stem-updated"


async def cleanup(client: Client, stack: Stack) -> str:
    async with running_workers(client, stack.settings):
        await client.execute_workflow(CleanupTempFilesWorkflow.run, id="cleanup-recorded",
                                      task_queue=stack.settings.temporal_task_queue)
    return "cleanup-recorded"


async def health(client: Client, stack: Stack) -> str:
    async with running_workers(client, stack.settings):
        await client.execute_workflow(HealthCheckWorkflow.run, id="health-recorded",
                                      task_queue=stack.settings.temporal_task_queue)
    return "health-recorded"


async def mix_workflow_of(client: Client, stack: Stack) -> str:
    query = f"WorkflowType = 'MixStemsWorkflow' AND TaskQueue = '{stack.settings.temporal_task_queue}'"
    [mix] = [item async for item in client.list_workflows(query)]
    return mix.id


async def mixed(client: Client, stack: Stack) -> str:
    stack.put("uploads/u/t/drums.wav", encode(sine(0.5)))
    stack.put("uploads/u/t/bass.flac", encode(sine(0.5, channels=1, frequency=110.0), format="FLAC"))
    async with services_running(client, stack.settings):
        stack.send(mix_message("stage-recorded", ["uploads/u/t/drums.wav", "uploads/u/t/bass.flac"]))
        await webhooks(stack, MIXING_COMPLETE)
    return await mix_workflow_of(client, stack)


async def mix_stem_missing(client: Client, stack: Stack) -> str:
    stack.put("uploads/u/t/drums.wav", encode(sine(0.5)))
    async with services_running(client, stack.settings):
        stack.send(mix_message("stage-missing", ["uploads/u/t/drums.wav", "uploads/u/t/gone.wav"]))
        await webhooks(stack, MIXING_COMPLETE)
    return await mix_workflow_of(client, stack)


SCENARIOS: dict[str, Scenario] = {scenario.__name__: scenario for scenario in (
    analysed, duplicate_deleted, decision_timeout, decision_only, host_fallback, host_left, hash_check_rejected,
    completion_rejected, damaged_audio, object_missing, cancelled, rerun_after_failure, late_decision,
    requested_while_failing, late_decision_refused, hash_check_past_local_retries, cancelled_while_downloading,
    cancelled_while_analysing, decided_by_update, cleanup, health, mixed, mix_stem_missing, mix_host_fallback)}


async def wait_closed(handle: WorkflowHandle[object, object]) -> None:
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await asyncio.sleep(0.1)


async def record(client: Client, aws: LocalAws, work_dir: Path, name: str, folder: Path) -> list[Path]:
    stack = new_stack(aws, work_dir / name)
    if folder == SEARCH_ATTRIBUTES_DIR:
        stack.settings = stack.settings.model_copy(update={"temporal_search_attributes": True})
    try:
        workflow_id = await SCENARIOS[name](client, stack)
        return await save_runs(client, stack, name, workflow_id, folder)
    finally:
        stack.standin.stop()


async def save_runs(client: Client, stack: Stack, name: str, workflow_id: str, folder: Path) -> list[Path]:
    written = []
    async with running_workers(client, stack.settings):  # the last workflow task may still be due
        await wait_closed(client.get_workflow_handle(workflow_id))
        runs = [item async for item in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        for index, run in enumerate(sorted(runs, key=lambda item: item.start_time)):
            history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
            path = folder / (f"{name}.json" if len(runs) == 1 else f"{name}.run{index + 1}.json")
            path.write_text(history.to_json() + "\n")
            written.append(path)
    return written


SCENARIO_TIMEOUT = 300.0
"""Seconds for one scenario: the longest waits out a host's pick-up timeout, about two minutes."""


async def main(arguments: list[str]) -> None:
    folder = SEARCH_ATTRIBUTES_DIR if "--search-attributes" in arguments else HERE
    names = [argument for argument in arguments if argument != "--search-attributes"]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="waveflow-record-") as work:
        work_dir = Path(work)
        server = TemporalDevServer(port=free_port(), ui_port=free_port(), log_file=work_dir / "temporal.log").start()
        aws = LocalAws().start()
        try:
            os.environ["TEMPORAL_ADDRESS"], os.environ["TEMPORAL_NAMESPACE"] = server.address, "default"
            client = await connect()
            for name in names or list(SCENARIOS):
                # A scenario whose run ends otherwise than it expects would wait for ever; this stops the servers.
                for path in await asyncio.wait_for(record(client, aws, work_dir, name, folder), SCENARIO_TIMEOUT):
                    print(f"recorded {path.relative_to(HERE.parent.parent)}", flush=True)
        finally:
            aws.stop()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
