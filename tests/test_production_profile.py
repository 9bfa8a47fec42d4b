"""What we ship is what we test: the paths that matter, on WaveFlow configured the way an operator configures it.

One stack for the module (tests/production_profile.py): a Temporal dev server with no search attributes, set up
only by the README's namespace commands run as written; the worker and the bridge as processes on namespace
`waveflow` with TEMPORAL_SEARCH_ATTRIBUTES=true, a Standard Webhooks secret, a dead-letter queue and a delete
prefix, each holding exactly its deploy/iam/ policy on moto with IAM enforced; a NestJS stand-in that rejects a
webhook whose signature does not verify. Every path starts at once when the stack is up and runs concurrently;
each test waits for its own path's outcome, so a failure names the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError

from devstack.nestjs_standin import NestJsStandIn, ReceivedWebhook
from devstack.processes import ROOT
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, hash_request
from tests.production_profile import (
    DECISION_TIMEOUT_SECONDS,
    MIXING_COMPLETE,
    NAMESPACE,
    WAIT,
    ProductionStack,
    build_stack,
    connect_client,
    readme_script,
    run_script,
    wait_until_queryable,
)
from waveflow.contract import MixRequest
from waveflow.signing import new_secret
from workflows.mix_stems import mix_workflow_id

pytestmark = pytest.mark.xdist_group("production_profile")  # its tests share one production-profile lane

COMPLETED, FAILED, CANCELED = (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED,
                               WorkflowExecutionStatus.CANCELED)
NOT_AUDIO = b"ID,title\n1,this is a spreadsheet export, not a recording\n" * 64
DEAD_LETTER_DEPTH = "waveflow_bridge_dead_letter_queue_messages"
PARTIAL_NAMESPACE = "waveflow-partial"
LEFT_OUT = "WaveFlowStage"
EXPECTED_WEBHOOKS = Counter({
    "new": 2, "dup-original": 2, "dup-copy": 2, "damaged": 2, "cancel-me": 2,  # hash-check, completion
    "rerun": 4,  # both runs: hash-check, completion
    "late": 3,  # hash-check, decision_timeout, the decision-only run's completion
    "stage-ok": 1, "stage-missing": 1,  # mixing-complete
    "partial": 1})  # its object is missing: the completion alone
TROUBLE = ("AccessDenied", "access denied", "retention", "WEBHOOK_SECRET", "Traceback", "Failed activation",
           "not ready", "search attribute")
"""Signs, in the main worker's and bridge's logs, of a configuration the shipped setup gets wrong: a permission
the policies lack, a retention shorter than the queues', unsigned webhooks, a workflow task failing (an
unregistered search attribute), the namespace check."""
STARTUP_WAIT = 60.0
"""How long a process may take to start and say the namespace is not ready."""


def audio(frequency: float, seconds: float = 0.5) -> bytes:
    """A WAV no other stem in the module has (the stand-in calls a hash seen under another stem a duplicate)."""
    return encode(sine(seconds, frequency=frequency))


@dataclass
class Lane:
    stack: ProductionStack
    paths: dict[str, asyncio.Task[Any]]

    async def outcome(self, path: str) -> Any:
        """What the path observed; its own exception if it could not get there."""
        return await self.paths[path]


@contextlib.contextmanager
def explained(stack: ProductionStack, *mentioning: str) -> Iterator[None]:
    """On failure, every process's log lines about the path, and their tails."""
    try:
        yield
    except BaseException:
        print(stack.explain(*mentioning))
        raise


# --- the paths ------------------------------------------------------------------------------------------------


async def new_stem(stack: ProductionStack) -> dict[str, Any]:
    key, data = "uploads/user-new/track-new/new.wav", audio(310.0)
    stack.put(key, data)
    stack.send(hash_request("new", key, userId="user-new", trackId="track-new"))
    [completion] = await stack.webhooks_for(COMPLETION, "stemId", "new")
    described = await stack.ended("stem-new")
    by_user = await stack.listed("WaveFlowUserId = 'user-new'", "stem-new")
    by_track_and_stage = await stack.listed("WaveFlowTrackId = 'track-new' AND WaveFlowStage = 'completed'",
                                            "stem-new")
    result = completion.body["result"]
    return {"completion": completion, "described": described, "data": data, "keys": stack.keys(),
            "waveform": json.loads(stack.get(result["waveform_data_path"])) if "waveform_data_path" in result else None,
            "by_user": by_user, "by_track_and_stage": by_track_and_stage,
            "hash_checks": await stack.webhooks_for(HASH_CHECK, "stemId", "new")}


async def duplicate(stack: ProductionStack) -> dict[str, Any]:
    data = audio(420.0)
    original, copy = "uploads/user-dup/track-dup/take-1.wav", "uploads/user-dup/track-dup/take-1-again.wav"
    stack.put(original, data)
    stack.put(copy, data)
    stack.send(hash_request("dup-original", original, userId="user-dup", trackId="track-dup"))
    [first] = await stack.webhooks_for(COMPLETION, "stemId", "dup-original")
    stack.send(hash_request("dup-copy", copy, userId="user-dup", trackId="track-dup"))
    [second] = await stack.webhooks_for(COMPLETION, "stemId", "dup-copy")
    return {"first": first, "second": second, "original": original, "copy": copy, "keys": stack.keys("uploads/"),
            "described": await stack.ended("stem-dup-copy")}


async def damaged(stack: ProductionStack) -> dict[str, Any]:
    key = "uploads/user-bad/track-bad/notes.wav"
    stack.put(key, NOT_AUDIO)
    stack.send(hash_request("damaged", key, userId="user-bad", trackId="track-bad"))
    [completion] = await stack.webhooks_for(COMPLETION, "stemId", "damaged")
    described = await stack.ended("stem-damaged")
    code = completion.body["result"].get("error_code")
    failure = None
    try:
        await stack.temporal.get_workflow_handle("stem-damaged").result()
    except WorkflowFailureError as failed:
        failure = failed.cause
    # The operator's way to find it: the CLI, by the error code the webhook carried.
    listing = await stack.listed(f"WaveFlowErrorCode='{code}'", "stem-damaged")
    return {"completion": completion, "described": described, "failure": failure, "listing": listing, "key": key,
            "keys": stack.keys("uploads/")}


async def rerun(stack: ProductionStack) -> dict[str, Any]:
    key = "uploads/user-rerun/track-rerun/cut.wav"
    stack.put(key, audio(530.0, seconds=1.0)[:44 + 4000])  # a WAV cut short: damaged
    first = hash_request("rerun", key, userId="user-rerun", trackId="track-rerun")
    stack.send(first)
    [failure] = await stack.webhooks_for(COMPLETION, "stemId", "rerun")
    failed = await stack.ended("stem-rerun")
    stack.put(key, audio(530.0))  # the object is fixed...
    stack.send({**first, "id": "hash-rerun-1704103299999"})  # ...and the server asks again: a new message
    completions = await stack.webhooks_for(COMPLETION, "stemId", "rerun", 2)
    return {"failure": failure, "failed": failed, "completions": completions,
            "described": await stack.ended("stem-rerun"), "runs": await stack.runs("stem-rerun")}


async def late_decision(stack: ProductionStack) -> dict[str, Any]:
    key = "uploads/user-late/track-late/slow.wav"
    stack.standin.behaviour.undecided_stems.add("late")
    stack.put(key, audio(640.0))
    started = time.monotonic()
    stack.send(hash_request("late", key, userId="user-late", trackId="track-late"))
    [hash_check] = await stack.webhooks_for(HASH_CHECK, "stemId", "late")
    [timed_out] = await stack.webhooks_for(COMPLETION, "stemId", "late", timeout=WAIT + DECISION_TIMEOUT_SECONDS)
    waited = time.monotonic() - started
    failed = await stack.ended("stem-late")
    # The server's decision, late: what it sends after its own slow dedupe check.
    stack.send({"task": "app.tasks.process_audio_analysis", "id": "analysis-late-1704103300000", "args": [],
                "kwargs": {"userId": "user-late", "trackId": "track-late", "stemId": "late", "filepath": key,
                           "audio_hash": hash_check.body["audio_hash"], "num_peaks": 32, "upstreamId": "up-late"}})
    completions = await stack.webhooks_for(COMPLETION, "stemId", "late", 2)
    return {"timed_out": timed_out, "waited": waited, "failed": failed, "completions": completions,
            "described": await stack.ended("stem-late"), "runs": await stack.runs("stem-late"),
            "hash_checks": await stack.webhooks_for(HASH_CHECK, "stemId", "late")}


def readme_cancel_command() -> str:
    [command] = re.findall(r"`(temporal workflow cancel [^`]*)`", (ROOT / "README.md").read_text())
    return command


async def cancel(stack: ProductionStack) -> dict[str, Any]:
    key = "uploads/user-cancel/track-cancel/stop.wav"
    stack.standin.behaviour.undecided_stems.add("cancel-me")
    stack.put(key, audio(750.0))
    stack.send(hash_request("cancel-me", key, userId="user-cancel", trackId="track-cancel"))
    await stack.webhooks_for(HASH_CHECK, "stemId", "cancel-me")
    command = readme_cancel_command()
    done = await asyncio.to_thread(run_script, stack.server, command, STEM_ID="cancel-me",
                                   TEMPORAL_NAMESPACE=NAMESPACE)
    [completion] = await stack.webhooks_for(COMPLETION, "stemId", "cancel-me")
    failure = None
    try:
        await stack.temporal.get_workflow_handle("stem-cancel-me").result()
    except WorkflowFailureError as ended:
        failure = ended.cause
    return {"command": command, "output": done.stdout, "completion": completion, "failure": failure,
            "described": await stack.ended("stem-cancel-me"), "key": key, "keys": stack.keys("uploads/")}


def mix_message(stage_id: str, stem_paths: list[str]) -> dict[str, Any]:
    return {"task": "app.tasks.mix_stems_and_upload", "id": f"mixing-{stage_id}-1704103200000", "args": [],
            "kwargs": {"stageId": stage_id, "upstreamId": f"up-{stage_id}", "stem_paths": stem_paths}}


async def mix_outcome(stack: ProductionStack, message: dict[str, Any]) -> dict[str, Any]:
    stage_id = message["kwargs"]["stageId"]
    [webhook] = await stack.webhooks_for(MIXING_COMPLETE, "stageId", stage_id)
    workflow_id = mix_workflow_id(MixRequest.model_validate(message["kwargs"]), message["id"])
    failure = None
    try:
        await asyncio.wait_for(stack.temporal.get_workflow_handle(workflow_id).result(), WAIT)
    except WorkflowFailureError as failed:
        failure = failed.cause
    return {"webhook": webhook, "failure": failure, "described": await stack.ended(workflow_id)}


async def mixdown(stack: ProductionStack) -> dict[str, Any]:
    stems = {"uploads/user-mix/track-mix/drums.wav": audio(120.0, seconds=1.0),
             "uploads/user-mix/track-mix/bass.flac": encode(sine(0.8, frequency=60.0, channels=1), format="FLAC")}
    for key, data in stems.items():
        stack.put(key, data)
    good = mix_message("stage-ok", list(stems))
    bad = mix_message("stage-missing", [*stems, "uploads/user-mix/track-mix/never-uploaded.wav"])
    stack.send(good)
    stack.send(bad)
    succeeded, failed = await asyncio.gather(mix_outcome(stack, good), mix_outcome(stack, bad))
    return {"succeeded": succeeded, "failed": failed, "keys": stack.keys()}


async def dead_letter(stack: ProductionStack) -> dict[str, Any]:
    before = await stack.metric("bridge", DEAD_LETTER_DEPTH)
    if math.isnan(before):  # unknown: nothing to wait for
        return {"before": before, "after": before, "dead": []}
    stack.send("this is not a message")
    deadline = time.monotonic() + WAIT
    while (after := await stack.metric("bridge", DEAD_LETTER_DEPTH)) != before + 1:
        assert time.monotonic() < deadline, f"{DEAD_LETTER_DEPTH} still reads {after}, not {before + 1}"
        await asyncio.sleep(0.3)
    dead = stack.admin("sqs").receive_message(QueueUrl=stack.dlq_url, WaitTimeSeconds=5,
                                              MessageAttributeNames=["All"]).get("Messages", [])
    return {"before": before, "after": after, "dead": dead}


def readme_operations_commands() -> list[str]:
    """The README's health and cleanup commands (the first two of its operator commands)."""
    lines = [line for line in readme_script("cli-commands").splitlines() if line.startswith("temporal ")]
    return [line for line in lines if "HealthCheckWorkflow" in line or "CleanupTempFilesWorkflow" in line]


async def operations(stack: ProductionStack) -> dict[str, Any]:
    outputs = {}
    for command in readme_operations_commands():
        done = await asyncio.to_thread(run_script, stack.server, command, TEMPORAL_NAMESPACE=NAMESPACE)
        outputs["health" if "HealthCheckWorkflow" in command else "cleanup"] = done.stdout
    return outputs


PATHS: dict[str, Callable[[ProductionStack], Awaitable[dict[str, Any]]]] = {
    "new_stem": new_stem, "duplicate": duplicate, "damaged": damaged, "rerun": rerun,
    "late_decision": late_decision, "cancel": cancel, "mixdown": mixdown, "dead_letter": dead_letter,
    "operations": operations,
}


@pytest.fixture(scope="module")
async def lane(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lane]:
    stack = await asyncio.to_thread(build_stack, tmp_path_factory.mktemp("production-profile"))
    paths: dict[str, asyncio.Task[Any]] = {}
    try:
        stack.client = await connect_client(stack.server)
        stack.start("worker", "worker.py", "worker")
        stack.start("bridge", "sqs_bridge.py", "bridge")
        await asyncio.gather(stack.until_ready("worker"), stack.until_ready("bridge"))
        paths = {name: asyncio.create_task(run(stack), name=name) for name, run in PATHS.items()}
        paths["not_ready"] = asyncio.create_task(not_ready_namespace(stack), name="not_ready")
        yield Lane(stack, paths)
    finally:
        for task in paths.values():
            task.cancel()
        await asyncio.gather(*paths.values(), return_exceptions=True)
        for name in list(stack.processes):
            stack.stop(name)
        stack.standin.stop()
        stack.aws.stop()
        stack.server.stop()


# --- the tests ------------------------------------------------------------------------------------------------


async def test_a_new_stem_is_analysed_and_found_by_its_search_attributes(lane: Lane) -> None:
    with explained(lane.stack, "stem-new", '"new"'):
        seen = await lane.outcome("new_stem")
    completion: ReceivedWebhook = seen["completion"]
    body, result = completion.body, completion.body["result"]
    assert body["status"] == "SUCCESS", body
    assert result["audio_data_hash"] == hashlib.sha256(seen["data"]).hexdigest()
    assert {result["waveform_data_path"], result["waveform_detail_path"]} <= seen["keys"]
    assert seen["waveform"]["num_peaks"] == result["num_peaks"] == 4000 and len(seen["waveform"]["peaks"]) == 4000
    Webhook(lane.stack.secret).verify(completion.raw_body, completion.headers)
    described = seen["described"]
    assert described.status == COMPLETED
    attributes = {key.name: value for key, value in described.typed_search_attributes}
    assert attributes["WaveFlowUserId"] == "user-new" and attributes["WaveFlowTrackId"] == "track-new"
    assert attributes["WaveFlowStage"] == "completed"
    assert "stem-new" in seen["by_user"] and "stem-new" in seen["by_track_and_stage"]
    assert len(seen["hash_checks"]) == 1


async def test_a_byte_identical_second_upload_is_deleted_and_the_original_kept(lane: Lane) -> None:
    with explained(lane.stack, "dup-"):
        seen = await lane.outcome("duplicate")
    assert seen["first"].body["status"] == "SUCCESS", seen["first"].body
    assert seen["second"].body["status"] == "SUCCESS", seen["second"].body
    assert seen["second"].body["result"]["status"] == "duplicate_file_deleted", seen["second"].body
    assert seen["copy"] not in seen["keys"] and seen["original"] in seen["keys"]
    assert seen["described"].status == COMPLETED


async def test_damaged_audio_fails_the_stem_and_the_cli_finds_it_by_error_code(lane: Lane) -> None:
    with explained(lane.stack, "stem-damaged", '"damaged"'):
        seen = await lane.outcome("damaged")
    body = seen["completion"].body
    assert body["status"] == "FAILURE" and body["result"]["error_code"] == "not_audio", body
    assert seen["described"].status == FAILED, "a failed stem ends Failed, not Running"
    assert isinstance(seen["failure"], ApplicationError) and seen["failure"].type == "not_audio"
    assert seen["failure"].message == body["result"]["error"]
    attributes = {key.name: value for key, value in seen["described"].typed_search_attributes}
    assert attributes["WaveFlowErrorCode"] == "not_audio" and attributes["WaveFlowStage"] == "failed"
    assert "stem-damaged" in seen["listing"]
    assert seen["key"] in seen["keys"], "the original is kept"


async def test_a_failed_stem_runs_again_for_a_new_request_after_the_fix(lane: Lane) -> None:
    with explained(lane.stack, "stem-rerun", '"rerun"'):
        seen = await lane.outcome("rerun")
    assert seen["failure"].body["status"] == "FAILURE"
    assert seen["failure"].body["result"]["error_code"] == "damaged_audio", seen["failure"].body
    assert seen["failed"].status == FAILED
    first, second = seen["completions"]
    assert second.body["status"] == "SUCCESS", second.body
    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
    assert seen["described"].status == COMPLETED
    assert seen["runs"] == sorted([COMPLETED, FAILED], key=str)


async def test_a_late_decision_continues_the_stem_to_success(lane: Lane) -> None:
    with explained(lane.stack, "stem-late", '"late"'):
        seen = await lane.outcome("late_decision")
    timed_out = seen["timed_out"].body
    assert timed_out["status"] == "FAILURE" and timed_out["result"]["error_code"] == "decision_timeout", timed_out
    assert seen["waited"] >= DECISION_TIMEOUT_SECONDS
    assert seen["failed"].status == FAILED
    analysed = seen["completions"][1].body
    assert analysed["status"] == "SUCCESS" and analysed["result"]["num_peaks"] == 32, analysed
    assert analysed["upstreamId"] == "up-late"
    assert seen["described"].status == COMPLETED
    assert seen["runs"] == sorted([COMPLETED, FAILED], key=str)
    assert len(seen["hash_checks"]) == 1, "the decision-only run sends no hash-check"


async def test_the_readme_cancel_command_cancels_a_waiting_stem(lane: Lane) -> None:
    with explained(lane.stack, "stem-cancel-me", '"cancel-me"'):
        seen = await lane.outcome("cancel")
    assert "stem-$STEM_ID" in seen["command"], seen["command"]
    assert seen["completion"].body["status"] == "FAILURE"
    assert seen["completion"].body["result"] == {"error": "the stem was cancelled; the original file is kept",
                                                 "error_code": "cancelled"}
    assert isinstance(seen["failure"], CancelledError)
    assert seen["described"].status == CANCELED
    assert seen["key"] in seen["keys"]


async def test_a_mixdown_succeeds_and_one_with_a_missing_stem_fails(lane: Lane) -> None:
    with explained(lane.stack, "stage-ok", "stage-missing", "mix-"):
        seen = await lane.outcome("mixdown")
    good, bad = seen["succeeded"], seen["failed"]
    body = good["webhook"].body
    assert body["status"] == "SUCCESS", body
    assert {body["mixed_file_path"], body["waveform_data_path"], body["waveform_detail_path"]} <= seen["keys"]
    assert body["stem_count"] == 2 and body["sample_rate"] == 44100
    assert good["described"].status == COMPLETED and good["failure"] is None
    failure = bad["webhook"].body
    assert failure["status"] == "FAILURE" and failure["result"]["error_code"] == "object_not_found", failure
    assert failure["mixed_file_path"] is None
    assert isinstance(bad["failure"], ApplicationError) and bad["failure"].type == "object_not_found"
    assert bad["described"].status == FAILED
    assert not any("stage-missing" in key for key in seen["keys"]), "a failed mix leaves nothing in S3"


async def test_a_poison_message_lands_in_the_dead_letter_queue_and_the_bridge_counts_it(lane: Lane) -> None:
    with explained(lane.stack, "poison", "dead-letter", "AccessDenied"):
        seen = await lane.outcome("dead_letter")
    assert not math.isnan(seen["before"]), f"{DEAD_LETTER_DEPTH} is NaN: the bridge cannot read the queue's depth"
    assert seen["after"] == seen["before"] + 1
    assert [message["Body"] for message in seen["dead"]] == ["this is not a message"]
    assert "waveflow-poison-reason" in seen["dead"][0]["MessageAttributes"]


async def test_the_readme_health_and_cleanup_commands_work_on_the_shipped_policies(lane: Lane) -> None:
    with explained(lane.stack, "health-", "cleanup-"):
        seen = await lane.outcome("operations")
    assert '"healthy"' in seen["health"] and "unhealthy" not in seen["health"], seen["health"]
    for check in ("s3", "sqs", "webhook", "temp_area"):
        assert re.search(rf'"name":\s*"{check}",\s*"ok":\s*true', seen["health"]), (check, seen["health"])
    assert '"host_task_queue":"waveflow@worker-host"' in seen["cleanup"].replace(" ", ""), seen["cleanup"]


async def test_a_namespace_missing_one_search_attribute_stops_the_worker_and_pauses_the_bridge(lane: Lane) -> None:
    with explained(lane.stack, PARTIAL_NAMESPACE, LEFT_OUT):
        seen = await lane.outcome("not_ready")
    assert seen["returncode"] not in (None, 0), f"the worker did not exit non-zero:\n{seen['worker_log']}"
    naming = [line for line in seen["worker_log"].splitlines() if LEFT_OUT in line]
    assert len(naming) == 1, f"one line naming {LEFT_OUT}:\n{seen['worker_log']}"
    assert "temporal operator search-attribute create" in naming[0]
    assert "Traceback" not in seen["worker_log"]
    assert not any(name in naming[0] for name in ("WaveFlowUserId", "WaveFlowTrackId", "WaveFlowErrorCode")), \
        "only the missing attribute is named"
    assert seen["readiness"]["state"] == "misconfigured", seen["readiness"]
    assert LEFT_OUT in seen["readiness"]["detail"], seen["readiness"]
    assert seen["readiness_after"]["state"] == "misconfigured", seen["readiness_after"]
    assert seen["receive_counts"] == ["1"], "the message stays on the queue, never received by the bridge"
    assert seen["workflow_before"] is None, "no workflow was started"


async def test_the_command_the_worker_names_mends_the_namespace_and_the_bridge_resumes(lane: Lane) -> None:
    with explained(lane.stack, PARTIAL_NAMESPACE, LEFT_OUT, '"partial"'):
        seen = await lane.outcome("not_ready")
    assert seen["mended"] is not None, f"not reached: the namespace check did not behave ({seen.get('readiness')})"
    assert seen["command"] == (f"temporal operator search-attribute create --namespace {PARTIAL_NAMESPACE} "
                               f"--name {LEFT_OUT} --type Keyword")
    mended = seen["mended"]
    assert mended["resumed"]["state"] == "receiving", mended["resumed"]
    body = mended["completion"].body
    assert body["status"] == "FAILURE" and body["result"]["error_code"] == "object_not_found", body
    assert mended["described"].status == FAILED
    attributes = {key.name: value for key, value in mended["described"].typed_search_attributes}
    assert attributes[LEFT_OUT] == "failed" and attributes["WaveFlowErrorCode"] == "object_not_found"


async def test_no_webhook_was_rejected_and_no_permission_was_missing(lane: Lane) -> None:
    """Runs last: every path is done, every webhook of them verified under the secret the worker holds."""
    await asyncio.gather(*lane.paths.values(), return_exceptions=True)
    standin = lane.stack.standin
    assert standin.rejected_signatures() == []
    unique = {item.headers["Idempotency-Key"]: item for item in standin.received if item.status < 300}
    for item in unique.values():
        Webhook(lane.stack.secret).verify(item.raw_body, item.headers)
    sent = Counter(item.body.get("stemId") or item.body.get("stageId") for item in unique.values())
    assert sent == EXPECTED_WEBHOOKS, "each path's webhooks, each once (retries aside)"
    for name in ("worker", "bridge"):
        trouble = [line for line in lane.stack.log(name).read_text().splitlines()
                   if any(sign in line for sign in TROUBLE)]
        assert trouble == [], f"{name}: " + "\n".join(trouble)


def test_the_standin_rejects_a_webhook_whose_signature_does_not_verify() -> None:
    """Without this the check above would pass on a stand-in that verifies nothing."""
    secret = new_secret()
    standin = NestJsStandIn(webhook_secret=secret).start()
    try:
        body = b'{"stemId": "s"}'
        signed = Webhook(secret).sign("msg-1", datetime_now(), body.decode())
        headers = {"webhook-id": "msg-1", "webhook-timestamp": str(int(time.time())), "webhook-signature": signed,
                   "Content-Type": "application/json"}
        good = httpx.post(f"{standin.url}/completion", content=body, headers=headers)
        tampered = httpx.post(f"{standin.url}/completion", content=body.replace(b"s", b"t"), headers=headers)
        other = httpx.post(f"{standin.url}/completion", content=body, headers={
            **headers, "webhook-signature": Webhook(new_secret()).sign("msg-1", datetime_now(), body.decode())})
        unsigned = httpx.post(f"{standin.url}/completion", content=body)
    finally:
        standin.stop()
    assert good.status_code == 201
    assert [tampered.status_code, other.status_code, unsigned.status_code] == [401, 401, 401]
    assert len(standin.rejected_signatures()) == 3 and len(standin.accepted(COMPLETION)) == 1


def datetime_now() -> datetime:
    return datetime.fromtimestamp(int(time.time()), UTC)


# --- a namespace that is not ready ----------------------------------------------------------------------------


def partial_setup_script() -> str:
    """The README's commands for another namespace, with one `--name X --type Keyword` pair left out."""
    script = readme_script("namespace-setup")
    edited = re.sub(r"--namespace waveflow\b", f"--namespace {PARTIAL_NAMESPACE}", script)
    lines = edited.splitlines(keepends=True)
    kept = [line for line in lines if f"--name {LEFT_OUT} --type Keyword" not in line]
    assert len(kept) == len(lines) - 1 and edited.count(f"--namespace {PARTIAL_NAMESPACE}") == 2, script
    return "".join(kept)


async def not_ready_namespace(stack: ProductionStack) -> dict[str, Any]:
    """The README's commands with one attribute left out; then the command the worker's error line names, run as
    an operator would copy it, and what follows."""
    await asyncio.to_thread(run_script, stack.server, partial_setup_script())
    await asyncio.to_thread(wait_until_queryable, stack.server, PARTIAL_NAMESPACE, "WaveFlowUserId")
    partial = {"TEMPORAL_NAMESPACE": PARTIAL_NAMESPACE, "SQS_QUEUE_URL": stack.spare_queue_url,
               "SQS_DLQ_URL": stack.spare_dlq_url}
    sqs = stack.admin("sqs")
    # Its object is missing on purpose: the stem, once it runs, ends in a FAILURE completion and nothing else.
    stack.send(hash_request("partial", "uploads/user-partial/track-partial/missing.wav"), stack.spare_queue_url)
    worker = stack.start("worker-partial", "worker.py", "worker", **partial)
    bridge = stack.start("bridge-partial", "sqs_bridge.py", "spare-bridge", BRIDGE_MISCONFIGURED_REPORT_SECONDS="1",
                         **partial)
    seen: dict[str, Any] = {"mended": None}
    try:
        seen["returncode"] = await asyncio.to_thread(exit_code, worker, STARTUP_WAIT)
        seen["worker_log"] = stack.log("worker-partial").read_text()
        seen["readiness"] = seen["readiness_after"] = await bridge_state(stack, "bridge-partial", "misconfigured")
        if seen["readiness"]["state"] != "misconfigured":
            return seen
        # It stays paused: the refusal is reported again (every second here) and it still receives nothing.
        log = stack.log("bridge-partial")
        reports = report_lines(log)
        deadline = time.monotonic() + STARTUP_WAIT
        while report_lines(log) < reports + 2:
            assert bridge.poll() is None, "the bridge exited"
            assert time.monotonic() < deadline, "the paused bridge does not report again why it is paused"
            await asyncio.sleep(0.2)
        seen["readiness_after"] = (await stack.health_of("bridge-partial", "/readyz")).json()
        peeked = sqs.receive_message(QueueUrl=stack.spare_queue_url, WaitTimeSeconds=2, VisibilityTimeout=0,
                                     MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        seen["receive_counts"] = [item["Attributes"]["ApproximateReceiveCount"] for item in peeked]
        seen["workflow_before"] = await describe_or_none(stack, "stem-partial")
        command = re.search(r"temporal operator search-attribute create[^;\"]*", seen["worker_log"])
        if command is None:
            return seen
        # The operator runs the command the worker named; the bridge resumes by itself, the worker starts again.
        seen["command"] = command.group(0).strip()
        await asyncio.to_thread(run_script, stack.server, seen["command"])
        resumed = await bridge_state(stack, "bridge-partial", "receiving")
        stack.start("worker-partial-again", "worker.py", "worker", **partial)
        await stack.until_ready("worker-partial-again")
        [completion] = await stack.webhooks_for(COMPLETION, "stemId", "partial")
        client = await connect_client(stack.server, PARTIAL_NAMESPACE)
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(client.get_workflow_handle("stem-partial").result(), WAIT)
        seen["mended"] = {"resumed": resumed, "completion": completion,
                          "described": await client.get_workflow_handle("stem-partial").describe()}
        return seen
    finally:
        for name in ("bridge-partial", "worker-partial", "worker-partial-again"):
            stack.stop(name)


async def describe_or_none(stack: ProductionStack, workflow_id: str) -> Any:
    client = await connect_client(stack.server, PARTIAL_NAMESPACE)
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return None


def report_lines(log: Path) -> int:
    """The bridge's lines naming the attribute left out: one each time it reports why it is paused."""
    return sum(1 for line in log.read_text().splitlines() if LEFT_OUT in line)


def exit_code(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The process's exit code, or None if it still runs after `timeout`."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


async def bridge_state(stack: ProductionStack, name: str, wanted: str) -> dict[str, Any]:
    """The bridge's /readyz answer once its state is `wanted`, or the last answer after STARTUP_WAIT."""
    deadline = time.monotonic() + STARTUP_WAIT
    answer: dict[str, Any] = {"state": "no answer", "detail": ""}
    while True:
        process = stack.processes[name]
        if process.poll() is not None:
            return {"state": f"exited with {process.returncode}", "detail": ""}
        with contextlib.suppress(httpx.HTTPError):
            answer = (await stack.health_of(name, "/readyz")).json()
        if answer["state"] == wanted or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)
