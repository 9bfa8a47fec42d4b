"""Workflow logic alone: the real workflows on the shared dev server, their activities replaced by fakes that
record what they were asked (no S3, SQS, webhook server or audio), each test on a task queue of its own."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from tests.determinism import DETERMINISM_GUARD
from tests.history_steps import steps_of
from waveflow.contract import DedupeDecision, HashRequest, MixRequest, WebhookKind
from waveflow.models import (
    AnalyseAndReportRequest,
    AnalyseRequest,
    AnalysisOutcome,
    AnalysisReported,
    DeleteRequest,
    DownloadAndReportRequest,
    DownloadedObject,
    DownloadReported,
    DownloadRequest,
    MixJob,
    MixOutcome,
    MixOutputKeys,
    MixStemsInput,
    StemIngestInput,
    StemPolicy,
    WebhookDelivery,
)
from waveflow.stem_reports import analysis_result, completion_payload, hash_check_body
from waveflow.success_records import SuccessRecord
from workflows.mix_stems import MixStemsWorkflow
from workflows.stem_ingest import StemIngestWorkflow
from workflows.steps import WEBHOOK_RETRY, attempts_within

SHA256 = "ab" * 32


async def held(until: asyncio.Event | None) -> None:
    """Heartbeating until the event is set: a step that takes its time, and hears a cancel meanwhile."""
    while until is not None and not until.is_set():
        if not activity.info().is_local:  # a local activity hears its cancel without heartbeats
            activity.heartbeat()
        await asyncio.sleep(0.1)


@dataclass
class FakeSteps:
    """Every activity the stem and mix workflows call, on the shared queue and on one host's queue."""

    host_queue: str
    calls: list[str] = field(default_factory=list)
    webhooks: list[WebhookDelivery] = field(default_factory=list)
    rejected_kinds: set[WebhookKind] = field(default_factory=set)
    down_until: float = 0.0
    """Every webhook fails (retryably, as a 503 does) until this `time.monotonic()`."""
    combined_posts_fail: bool = False
    """The POST a local download or analysis adds fails (as one that timed out does); those made apart do not."""
    hold_analysis: asyncio.Event | None = None
    hold_download: asyncio.Event | None = None
    claimed_host: str | None = None
    """The host queue a mix is given, when not this fleet's own (one no worker polls: a host gone)."""
    mixed: list[MixOutputKeys] = field(default_factory=list)
    discarded: list[MixOutputKeys] = field(default_factory=list)

    local_download: Literal["here", "declined", "failing", "missing"] = "here"
    """What the local download does with a small object: download it, leave it to the activity, fail (retryably), or
    find it missing."""

    @activity.defn(name="download_and_hash")
    async def download_and_hash(self, request: DownloadRequest) -> DownloadedObject:
        self.calls.append(f"download {request.key}")
        await held(self.hold_download)
        return DownloadedObject(local_path=f"/tmp/{request.stem_id}.audio", sha256=SHA256, size=4, etag='"e"',
                                host_task_queue=self.host_queue)

    @activity.defn(name="download_small_and_hash")
    async def download_small_and_hash(self, request: DownloadRequest) -> DownloadedObject | None:
        if self.hold_download is not None or self.local_download == "declined":
            return None
        if self.local_download == "failing":
            raise ApplicationError("S3 answered 500")
        if self.local_download == "missing":
            raise ApplicationError(f"the file {request.key!r} does not exist in S3", type="object_not_found",
                                   non_retryable=True)
        self.calls.append(f"download {request.key}")
        return DownloadedObject(local_path=f"/tmp/{request.stem_id}.audio", sha256=SHA256, size=4, etag='"e"',
                                host_task_queue=self.host_queue)

    local_analysis: Literal["here", "elsewhere", "failing"] = "here"
    """What the local analysis of a small object does: analyse the download, analyse the object fetched again (on a
    host other than the download's), or fail (retryably)."""

    @activity.defn(name="analyse_audio")
    async def analyse_audio(self, request: AnalyseRequest) -> AnalysisOutcome:
        local = activity.info().is_local
        if local and self.local_analysis == "failing":
            raise ApplicationError("the decoder ended without a result (SIGKILL)")
        self.calls.append(f"analyse {'here' if local else f'on {activity.info().task_queue}'} "
                          f"into {request.num_peaks} peaks")
        await held(self.hold_analysis)
        return AnalysisOutcome(duration=1.0, sample_rate=44100, channels=2, frames=44100, num_peaks=request.num_peaks,
                               format="wav", waveform_data_path=request.waveform_key,
                               waveform_detail_path=request.detail_key, finished_at=datetime.now(UTC),
                               fetched_again=local and self.local_analysis == "elsewhere")

    @activity.defn(name="delete_duplicate")
    async def delete_duplicate(self, request: DeleteRequest) -> None:
        self.calls.append(f"delete {request.stem_key} {request.computed_sha256} {request.etag}")

    @activity.defn(name="record_success")
    async def record_success(self, record: SuccessRecord) -> None:
        self.calls.append(f"record {record.outcome} of {record.stemId}")

    @activity.defn(name="remove_stem_files")
    async def remove_stem_files(self, stem_id: str) -> list[str]:
        self.calls.append(f"remove temp on {activity.info().task_queue}")
        return []

    @activity.defn(name="send_webhook")
    async def send_webhook(self, delivery: WebhookDelivery) -> int:
        if time.monotonic() < self.down_until:
            raise ApplicationError("the server answered HTTP 503", type="webhook_unavailable")
        self.webhooks.append(delivery)
        if delivery.kind in self.rejected_kinds:
            raise ApplicationError("the server rejected it with HTTP 400", type="webhook_rejected",
                                   non_retryable=True)
        return 200

    @activity.defn(name="download_small_and_send_hash_check")
    async def download_and_send_hash_check(self, request: DownloadAndReportRequest) -> DownloadReported | None:
        downloaded = await self.download_small_and_hash(request.download)
        if downloaded is None:
            return None
        if request.hash_check_for is None:
            return DownloadReported(downloaded=downloaded, hash_check_sent=False)
        sent, refusal = await self._sent(WebhookDelivery(
            kind=WebhookKind.HASH_CHECK, idempotency_key=request.hash_check_key,
            body=hash_check_body(request.hash_check_for, downloaded.sha256)))
        return DownloadReported(downloaded=downloaded, hash_check_sent=sent, hash_check_refusal=refusal)

    @activity.defn(name="analyse_small_and_complete")
    async def analyse_and_complete(self, request: AnalyseAndReportRequest) -> AnalysisReported:
        outcome = await self.analyse_audio(request.analyse)
        assert request.analyse.downloaded is not None and outcome.finished_at is not None
        completion = completion_payload(request.request, request.decision, "SUCCESS",
                                        analysis_result(request.analyse.downloaded, outcome), request.started,
                                        outcome.finished_at)
        sent, refusal = await self._sent(WebhookDelivery(
            kind=WebhookKind.COMPLETION, idempotency_key=request.completion_key,
            body=completion.model_dump(mode="json")))
        if sent:
            self.calls.append(f"record analysed of {request.request.stemId}")
        return AnalysisReported(outcome=outcome, completion_sent=sent, completion_refusal=refusal,
                                success_recorded=sent)

    async def _sent(self, delivery: WebhookDelivery) -> tuple[bool, str | None]:
        """As the real combined steps report a POST: delivered, or refused for good (and why), or neither."""
        if self.combined_posts_fail:
            return False, None
        try:
            await self.send_webhook(delivery)
        except ApplicationError as error:
            return False, error.message if error.type == "webhook_rejected" else None
        return True, None

    @activity.defn(name="ClaimMixHost")
    async def claim_host(self) -> str:
        return self.claimed_host or self.host_queue

    @activity.defn(name="MixAndUpload")
    async def mix_and_upload(self, job: MixJob) -> MixOutcome:
        self.mixed.append(job.outputs)
        if any(stem.key.endswith("unmixable.wav") for stem in job.stems):
            raise ApplicationError("no decoder for it", type="damaged_audio", non_retryable=True)
        return MixOutcome(mixed_file_path=job.outputs.mixed_key, waveform_data_path=job.outputs.waveform_key,
                          waveform_detail_path=job.outputs.detail_key, audio_data_hash=SHA256, file_size=4,
                          duration=1.0, sample_rate=44100, channels=2, peak=0.5, gain=1.0, loudness_lufs=None,
                          stem_formats=["wav"])

    @activity.defn(name="DiscardMixOutputs")
    async def discard_outputs(self, outputs: MixOutputKeys) -> None:
        self.discarded.append(outputs)

    def shared(self) -> list[object]:
        return [self.download_and_hash, self.download_small_and_hash, self.delete_duplicate, self.record_success,
                self.send_webhook, self.analyse_audio, self.download_and_send_hash_check, self.analyse_and_complete,
                self.claim_host, self.mix_and_upload, self.discard_outputs]

    def on_host(self) -> list[object]:
        return [self.analyse_audio, self.remove_stem_files, self.download_and_hash, self.mix_and_upload]

    def bodies(self, kind: WebhookKind) -> list[dict[str, object]]:
        return [delivery.body for delivery in self.webhooks if delivery.kind is kind]


@dataclass
class Fleet:
    client: Client
    task_queue: str
    steps: FakeSteps


@contextlib.asynccontextmanager
async def fake_fleet(client: Client) -> AsyncIterator[Fleet]:
    """The real workflows on a task queue of their own, their activities the fakes above."""
    task_queue = f"logic-{uuid.uuid4().hex[:10]}"
    steps = FakeSteps(host_queue=f"{task_queue}@host")
    shared = Worker(client, task_queue=task_queue, workflows=[StemIngestWorkflow, MixStemsWorkflow],
                    activities=steps.shared(), workflow_runner=DETERMINISM_GUARD)
    host = Worker(client, task_queue=steps.host_queue, activities=steps.on_host())
    async with shared, host:
        yield Fleet(client, task_queue, steps)


@pytest.fixture
async def fleet(client: Client) -> AsyncIterator[Fleet]:
    async with fake_fleet(client) as each:
        yield each


async def start_stem(fleet: Fleet, stem_id: str, **policy: float) -> object:
    request = HashRequest(stemId=stem_id, filepath=f"uploads/{stem_id}.wav", userId="u", trackId="t")
    return await fleet.client.start_workflow(
        StemIngestWorkflow.run, StemIngestInput(request=request, policy=StemPolicy(**policy)),
        id=f"stem-{stem_id}-{uuid.uuid4().hex[:6]}", task_queue=fleet.task_queue)


async def until(condition: object, what: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_analysed_stem_runs_its_steps_in_order_in_two_workflow_tasks(fleet: Fleet) -> None:
    handle = await start_stem(fleet, "analysed")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/analysed.wav",
                                                                   num_peaks=300, upstream_id="up-1"))
    outcome = await handle.result()
    assert fleet.steps.calls == ["download uploads/analysed.wav", "analyse here into 300 peaks",
                                 "record analysed of analysed"]
    events = [event async for event in handle.fetch_history_events()]
    assert steps_of(events) == [("download_small_and_send_hash_check", "local"),
                                ("analyse_small_and_complete", "local")]
    assert sum(event.HasField("workflow_task_completed_event_attributes") for event in events) == 2
    [hash_check] = fleet.steps.bodies(WebhookKind.HASH_CHECK)
    assert hash_check["audio_hash"] == SHA256
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert completion["status"] == "SUCCESS" and completion["upstreamId"] == "up-1"
    assert outcome.completion.result.num_peaks == 300
    keys = {delivery.idempotency_key for delivery in fleet.steps.webhooks}
    assert keys == {f"{handle.id}:{handle.result_run_id}:{kind}" for kind in ("hash-check", "completion")}


async def test_webhooks_the_combined_steps_could_not_send_are_sent_by_steps_of_their_own(fleet: Fleet) -> None:
    fleet.steps.combined_posts_fail = True
    handle = await start_stem(fleet, "sent-apart")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/sent-apart.wav",
                                                                   upstream_id="up-2"))
    outcome = await handle.result()
    events = [event async for event in handle.fetch_history_events()]
    assert steps_of(events) == [("download_small_and_send_hash_check", "local"), ("send_webhook", "local"),
                                ("analyse_small_and_complete", "local"), ("send_webhook", "local"),
                                ("record_success", "local")]
    assert fleet.steps.calls == ["download uploads/sent-apart.wav", "analyse here into 1024 peaks",
                                 "record analysed of sent-apart"]
    [hash_check] = fleet.steps.bodies(WebhookKind.HASH_CHECK)
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert hash_check["audio_hash"] == SHA256
    assert completion == outcome.completion.model_dump(mode="json") and completion["upstreamId"] == "up-2"
    assert {delivery.idempotency_key for delivery in fleet.steps.webhooks} == {
        f"{handle.id}:{handle.result_run_id}:{kind}" for kind in ("hash-check", "completion")}


async def test_a_small_object_the_local_analysis_fails_on_is_analysed_on_the_host_that_holds_the_file(
        fleet: Fleet) -> None:
    fleet.steps.local_analysis = "failing"
    handle = await start_stem(fleet, "handed-over")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/handed-over.wav",
                                                                   num_peaks=300))
    await handle.result()
    host = fleet.steps.host_queue
    assert fleet.steps.calls == ["download uploads/handed-over.wav", f"analyse on {host} into 300 peaks",
                                 "record analysed of handed-over"]


async def test_a_decision_already_in_when_the_hash_check_is_sent_leaves_the_analysis_to_the_activity(
        fleet: Fleet) -> None:
    """Analysed in the hash-check's workflow task, the stem would end there, and the server's answer to the hash-check
    coming in meanwhile would make the task run again, hash-check and all."""
    request = HashRequest(stemId="decided-early", filepath="uploads/decided-early.wav", userId="u", trackId="t")
    handle = await fleet.client.start_workflow(
        StemIngestWorkflow.run, StemIngestInput(request=request, policy=StemPolicy()),
        id=f"stem-decided-early-{uuid.uuid4().hex[:6]}", task_queue=fleet.task_queue, start_signal="decide",
        start_signal_args=[DedupeDecision(duplicate=False, filepath="uploads/decided-early.wav", num_peaks=300)])
    await handle.result()
    assert fleet.steps.calls == ["download uploads/decided-early.wav",
                                 f"analyse on {fleet.steps.host_queue} into 300 peaks",
                                 "record analysed of decided-early"]
    assert len(fleet.steps.bodies(WebhookKind.HASH_CHECK)) == 1


async def test_a_local_analysis_that_fetched_the_object_again_has_the_download_removed_on_its_host(
        fleet: Fleet) -> None:
    fleet.steps.local_analysis = "elsewhere"
    handle = await start_stem(fleet, "elsewhere")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/elsewhere.wav"))
    await handle.result()
    assert fleet.steps.calls[1:] == [f"analyse here into {StemPolicy().default_num_peaks} peaks",
                                     "record analysed of elsewhere", f"remove temp on {fleet.steps.host_queue}"]


@pytest.mark.parametrize("local_download", ["declined", "failing"])
async def test_a_small_object_the_local_download_does_not_fetch_is_downloaded_by_the_activity(
        fleet: Fleet, local_download: Literal["declined", "failing"]) -> None:
    fleet.steps.local_download = local_download
    handle = await start_stem(fleet, "handed-on")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    assert fleet.steps.calls == ["download uploads/handed-on.wav"]
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/handed-on.wav"))
    await handle.result()  # the hash-check's marker is written when its workflow task ends, after the POST
    events = [event async for event in handle.fetch_history_events()]
    assert steps_of(events)[:3] == [("download_small_and_send_hash_check", "local"),
                                    ("download_and_hash", "activity"), ("send_webhook", "local")]


async def test_a_missing_object_found_by_the_local_download_fails_the_stem_without_a_second_look(
        fleet: Fleet) -> None:
    fleet.steps.local_download = "missing"
    handle = await start_stem(fleet, "gone")
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert completion["result"]["error_code"] == "object_not_found"
    assert fleet.steps.calls == [] and not fleet.steps.bodies(WebhookKind.HASH_CHECK)


async def test_a_duplicate_is_deleted_as_hashed_and_its_temp_files_removed(fleet: Fleet) -> None:
    handle = await start_stem(fleet, "copy")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=True, filepath="uploads/copy.wav",
                                                                   audio_hash=SHA256))
    await handle.result()
    assert fleet.steps.calls == ["download uploads/copy.wav", f'delete uploads/copy.wav {SHA256} "e"',
                                 f"remove temp on {fleet.steps.host_queue}", "record duplicate_file_deleted of copy"]
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert completion["result"]["status"] == "duplicate_file_deleted"


async def test_no_decision_in_time_ends_failed_after_its_failure_webhook(fleet: Fleet) -> None:
    handle = await start_stem(fleet, "undecided", decision_timeout_seconds=1)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == "decision_timeout"
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert completion["status"] == "FAILURE" and completion["result"]["error_code"] == "decision_timeout"
    assert fleet.steps.calls[-1] == f"remove temp on {fleet.steps.host_queue}"


async def test_a_rejected_completion_ends_the_stem_failed_with_the_rejection(fleet: Fleet) -> None:
    fleet.steps.rejected_kinds.add(WebhookKind.COMPLETION)
    handle = await start_stem(fleet, "rejected")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/rejected.wav"))
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failed.value.cause.type == "webhook_rejected"  # type: ignore[union-attr]
    assert (await handle.query(StemIngestWorkflow.status)).phase == "failed"
    assert len(fleet.steps.bodies(WebhookKind.COMPLETION)) == 1, "a refusal is final: the body is not sent again"
    assert not any(call.startswith("record") for call in fleet.steps.calls)


async def test_a_cancel_during_the_analysis_reports_cancelled_once_the_analysis_stopped(fleet: Fleet) -> None:
    fleet.steps.hold_analysis = asyncio.Event()
    handle = await start_stem(fleet, "cancelled")
    await until(lambda: fleet.steps.bodies(WebhookKind.HASH_CHECK), "the hash-check")
    await handle.signal(StemIngestWorkflow.decide, DedupeDecision(duplicate=False, filepath="uploads/cancelled.wav"))
    await until(lambda: any(call.startswith("analyse") for call in fleet.steps.calls), "the analysis")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()
    assert isinstance(ended.value.cause, CancelledError)
    [completion] = fleet.steps.bodies(WebhookKind.COMPLETION)
    assert completion["result"]["error_code"] == "cancelled"
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_a_mix_of_no_stems_is_refused_by_webhook_without_touching_s3(fleet: Fleet) -> None:
    handle = await fleet.client.start_workflow(
        MixStemsWorkflow.run, MixStemsInput(request=MixRequest(stageId="stage-1", stem_paths=[]), task_id="m-1"),
        id=f"mix-{uuid.uuid4().hex[:8]}", task_queue=fleet.task_queue, execution_timeout=timedelta(minutes=2))
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failed.value.cause.type == "no_stems"  # type: ignore[union-attr]
    assert fleet.steps.calls == []
    [webhook] = fleet.steps.bodies(WebhookKind.MIXING_COMPLETE)
    assert webhook["status"] == "FAILURE" and webhook["task_id"] == "m-1"


async def test_two_mixes_of_one_stage_write_their_own_keys_and_a_failed_one_discards_only_its_own(
        fleet: Fleet) -> None:
    async def mix(stem: str) -> object:
        return await fleet.client.start_workflow(
            MixStemsWorkflow.run, MixStemsInput(request=MixRequest(stageId="stage-2", stem_paths=[stem]),
                                                task_id=stem), id=f"mix-{uuid.uuid4().hex[:8]}",
            task_queue=fleet.task_queue, execution_timeout=timedelta(minutes=2))

    good, bad = await asyncio.gather(mix("uploads/good.wav"), mix("uploads/unmixable.wav"))
    await good.result()
    with pytest.raises(WorkflowFailureError):
        await bad.result()
    by_run = {outputs.mixed_key: outputs for outputs in fleet.steps.mixed}
    assert len(by_run) == 2, "each run has keys of its own"
    for handle in (good, bad):
        suffix = handle.result_run_id.replace("-", "")[-12:]
        assert any(key.endswith(f"_{suffix}.wav") for key in by_run), (suffix, sorted(by_run))
    [discarded] = fleet.steps.discarded
    assert discarded.mixed_key.endswith(f"_{bad.result_run_id.replace('-', '')[-12:]}.wav")


async def test_a_hash_check_failing_past_its_local_budget_holds_no_update_back(fleet: Fleet) -> None:
    """The webhook server is down for 8 s; the hash-check's local retries end after 2 s and it goes on as a
    regular activity, so the workflow task is free: a decision by update is answered at once."""
    fleet.steps.down_until = time.monotonic() + 8.0
    handle = await start_stem(fleet, "outage", local_webhook_seconds=2.0)

    async def scheduled_webhooks() -> int:
        return len([event async for event in handle.fetch_history_events()
                    if event.activity_task_scheduled_event_attributes.activity_type.name == "send_webhook"])

    for _ in range(100):
        if await scheduled_webhooks():
            break
        await asyncio.sleep(0.1)
    started = time.monotonic()
    receipt = await handle.execute_update(StemIngestWorkflow.decide_checked,
                                          DedupeDecision(duplicate=False, filepath="uploads/outage.wav"))
    answered_in = time.monotonic() - started
    outcome = await handle.result()
    assert receipt.outcome == "accepted" and answered_in < 2.0, f"the update took {answered_in:.1f} s"
    assert outcome.status == "SUCCESS"
    assert [body["stemId"] for body in fleet.steps.bodies(WebhookKind.HASH_CHECK)] == ["outage"]
    events = [event async for event in handle.fetch_history_events()]
    assert len(events) < 60, f"{len(events)} events for one stem through an outage"


def test_the_local_budget_counts_the_attempts_its_backoffs_allow() -> None:
    assert attempts_within(timedelta(seconds=2), WEBHOOK_RETRY) == 2  # at 0 s and at 1 s
    assert attempts_within(timedelta(seconds=60), WEBHOOK_RETRY) == 6  # 1 + 2 + 4 + 8 + 16 s of backoff
    assert attempts_within(timedelta(seconds=60), RetryPolicy(initial_interval=timedelta(0))) == 1
    assert attempts_within(timedelta(seconds=60), RetryPolicy(maximum_interval=None)) == 6
