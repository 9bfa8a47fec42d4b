"""One stem, one durable workflow: hash, hash-check webhook, wait for the dedupe decision, act, complete."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.audio import AudioActivities
    from activities.s3 import S3Activities
    from activities.temp import TempActivities
    from activities.webhooks import WebhookActivities
    from waveflow.errors import DecisionTimeoutError, WaveFlowError
    from waveflow.models import (
        AnalyseRequest,
        AnalysisResult,
        CompletionPayload,
        DecisionReceipt,
        DedupeDecision,
        DeleteRequest,
        DownloadedObject,
        DownloadRequest,
        DuplicateDeletedResult,
        FailureResult,
        HashCheckPayload,
        Stage,
        StemIngestInput,
        StemOutcome,
        StemStatus,
        WebhookDelivery,
        WebhookKind,
    )
    from workflows.search_attributes import ERROR_CODE, STAGE

IO_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=60))
STEP_DEADLINE = timedelta(hours=1)
HOST_PICKUP_TIMEOUT = timedelta(minutes=1)
ANALYSIS_HEARTBEAT = timedelta(seconds=10)
DOWNLOAD_HEARTBEAT = timedelta(seconds=15)
SHORT_STEP = timedelta(seconds=60)
CANCELLED = "cancelled"
ANALYSIS_REMOVES_DOWNLOAD = "analysis-removes-its-download"
"""Patch: on the success path the analysis removes the downloaded file itself, one activity fewer per stem."""
HASH_CHECK_RUNS_LOCALLY = "hash-check-runs-as-local-activity"
"""Patch: the hash-check webhook runs as a local activity, in the workflow task that asks for it: a POST of a few
milliseconds needs no task queue, and it saves an activity task and a workflow task. Its body is rebuilt the same
if that workflow task is retried; the completion's is not (its timestamp is the task's), so it stays an activity."""
WAITED = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
"""For steps that write: a cancelled stem ends only once they stopped, so nothing is written after its end."""


def workflow_id_for(stem_id: str) -> str:
    return f"stem-{stem_id}"


class StemFailedError(Exception):
    def __init__(self, failure: FailureResult) -> None:
        super().__init__(failure.error)
        self.failure = failure


@workflow.defn(name="StemIngestWorkflow")
class StemIngestWorkflow:
    @workflow.init
    def __init__(self, params: StemIngestInput) -> None:
        self._input = params
        self._decision: DedupeDecision | None = params.decision
        self._status = StemStatus(stem_id=params.request.stemId, stage=Stage.DOWNLOADING,
                                  filepath=params.request.filepath, decision=params.decision)

    @workflow.signal(name="decide")
    def decide(self, decision: DedupeDecision) -> None:
        """The server's dedupe decision (the SQS path); the first one counts, a different later one is recorded."""
        self._record(decision)

    @workflow.update(name="decide")
    def decide_checked(self, decision: DedupeDecision) -> DecisionReceipt:
        """The same decision for servers with a Temporal client: checked first, answered."""
        return self._record(decision)

    @decide_checked.validator
    def _refuse_a_decision_for_something_else(self, decision: DedupeDecision) -> None:
        request = self._input.request
        if decision.filepath != request.filepath:
            raise ValueError(f"refused: the decision names {decision.filepath!r} but this stem's object is "
                             f"{request.filepath!r}")
        known = self._status.audio_hash
        if decision.audio_hash and known and decision.audio_hash.lower() != known:
            raise ValueError(f"refused: the decision's audio_hash {decision.audio_hash} differs from the hash "
                             f"WaveFlow computed ({known})")

    def _record(self, decision: DedupeDecision) -> DecisionReceipt:
        if self._decision is None:
            self._decision = decision
            self._status.decision = decision
            return DecisionReceipt(outcome="accepted", decision_in_force=decision)
        if decision != self._decision and decision not in self._status.conflicting_decisions:
            self._status.conflicting_decisions.append(decision)
            workflow.logger.warning("a second, different decision for %s is recorded but not acted upon: %s "
                                    "(in force: %s)", self._status.stem_id, decision, self._decision)
        return DecisionReceipt(outcome="already_decided", decision_in_force=self._decision)

    @workflow.query(name="status")
    def status(self) -> StemStatus:
        return self._status

    @workflow.run
    async def run(self, params: StemIngestInput) -> StemOutcome:
        # Patches are decided once, here: a stem whose first workflow task older code recorded keeps its path.
        self._analysis_removes_download = workflow.patched(ANALYSIS_REMOVES_DOWNLOAD)
        self._hash_check_runs_locally = workflow.patched(HASH_CHECK_RUNS_LOCALLY)
        self._download_removed = False
        started = workflow.now()
        downloaded: DownloadedObject | None = None
        self._enter(Stage.DOWNLOADING)
        try:
            downloaded = await self._download()
            if params.send_hash_check:
                self._enter(Stage.SENDING_HASH_CHECK)
                await self._deliver(WebhookKind.HASH_CHECK, self._hash_check(downloaded))
            decision = await self._await_decision()
            if decision.duplicate:
                result: AnalysisResult | DuplicateDeletedResult = await self._delete(downloaded, decision)
            else:
                result = await self._analyse(downloaded, decision)
            self._status.result = result
            completion = self._completion("SUCCESS", result, started)
        except StemFailedError as failed:
            completion = self._failed(failed.failure, started)
        except asyncio.CancelledError:
            completion = self._failed(FailureResult(error="the stem was cancelled; the original file is kept",
                                                    error_code=CANCELLED), started)
        if downloaded is not None and not self._download_removed:
            await self._remove_temp_files(downloaded)
        self._enter(Stage.SENDING_COMPLETION)
        try:
            await self._deliver_completion(completion)
        except StemFailedError as failed:
            self._status.error = failed.failure
            self._enter(Stage.FAILED)
            raise ApplicationError(failed.failure.error, type=failed.failure.error_code, non_retryable=True) from None
        meter = workflow.metric_meter()
        meter.create_counter("waveflow_stems_completed", "Stems that ended, by outcome").add(
            1, {"outcome": completion.status.lower()})
        meter.create_histogram_float(
            "waveflow_stem_duration_seconds", "From a stem's start to its delivered completion, by how it ended"
        ).record(completion.processing_time, {"outcome": _ending(completion.result)})
        if completion.status == "SUCCESS":
            self._enter(Stage.COMPLETED)
            return StemOutcome(status=completion.status, completion=completion)
        return self._end_failed()

    def _failed(self, failure: FailureResult, started: datetime) -> CompletionPayload:
        self._status.error = failure
        return self._completion("FAILURE", failure, started)

    async def _deliver_completion(self, completion: CompletionPayload) -> None:
        body = completion.model_dump(mode="json")
        try:
            await self._deliver(WebhookKind.COMPLETION, body)
        except asyncio.CancelledError:  # the work is over either way: the server must still hear how it ended
            await self._deliver(WebhookKind.COMPLETION, body)

    def _end_failed(self) -> NoReturn:
        """After the FAILURE webhook: a late decision starts the decision-only run; otherwise the run fails (red in
        the UI, found by `ExecutionStatus='Failed'`, re-runnable) or, when cancelled, ends cancelled."""
        failure = self._status.error
        assert failure is not None
        self._enter(Stage.FAILED)
        if self._input.policy.search_attributes:
            workflow.upsert_search_attributes([ERROR_CODE.value_set(failure.error_code)])
        if failure.error_code == DecisionTimeoutError.code and self._decision is not None:
            workflow.continue_as_new(self._input.model_copy(update={"send_hash_check": False,
                                                                   "decision": self._decision}))
        if failure.error_code == CANCELLED:
            raise asyncio.CancelledError(failure.error)
        raise ApplicationError(failure.error, type=failure.error_code, non_retryable=True)

    def _enter(self, stage: Stage) -> None:
        self._status.stage = stage
        workflow.set_current_details(f"**Stage:** {stage.value}")
        if self._input.policy.search_attributes:
            workflow.upsert_search_attributes([STAGE.value_set(stage.value)])

    async def _download(self) -> DownloadedObject:
        request = self._input.request
        downloaded = await self._activity(
            S3Activities.download_and_hash,
            DownloadRequest(stem_id=request.stemId, key=request.filepath,
                            max_size_bytes=self._input.policy.max_file_size_bytes),
            heartbeat_timeout=DOWNLOAD_HEARTBEAT, summary=f"download and hash {request.filepath}",
            cancellation_type=WAITED,
        )
        self._status.audio_hash = downloaded.sha256
        self._status.file_size = downloaded.size
        return downloaded

    def _hash_check(self, downloaded: DownloadedObject) -> dict[str, object]:
        request = self._input.request
        return HashCheckPayload(stemId=request.stemId, userId=request.userId, trackId=request.trackId,
                                filepath=request.filepath, audio_hash=downloaded.sha256,
                                timestamp=request.timestamp, original_filename=request.original_filename,
                                stageId=request.stageId).model_dump(mode="json")

    async def _await_decision(self) -> DedupeDecision:
        self._enter(Stage.AWAITING_DECISION)
        timeout = self._input.policy.decision_timeout_seconds
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timedelta(seconds=timeout))
        except builtins.TimeoutError:
            raise StemFailedError(FailureResult(
                error=f"no duplicate decision arrived within {timeout:g} s; the original file is kept",
                error_code=DecisionTimeoutError.code)) from None
        assert self._decision is not None
        return self._decision

    async def _delete(self, downloaded: DownloadedObject, decision: DedupeDecision) -> DuplicateDeletedResult:
        self._enter(Stage.DELETING_DUPLICATE)
        request = self._input.request
        await self._activity(S3Activities.delete_duplicate, DeleteRequest(
            stem_id=request.stemId, stem_key=request.filepath, decided_key=decision.filepath,
            computed_sha256=downloaded.sha256, decided_sha256=decision.audio_hash, etag=downloaded.etag,
            allowed_prefixes=self._input.policy.delete_allowed_prefixes), start_to_close_timeout=SHORT_STEP,
            summary=f"delete duplicate {request.filepath}")
        return DuplicateDeletedResult(audio_hash=downloaded.sha256, filepath=request.filepath)

    async def _analyse(self, downloaded: DownloadedObject, decision: DedupeDecision) -> AnalysisResult:
        self._enter(Stage.ANALYSING)
        request, policy = self._input.request, self._input.policy
        stamp = int(workflow.now().timestamp() * 1000)
        analyse = AnalyseRequest(
            stem_id=request.stemId, key=request.filepath, downloaded=downloaded,
            expected_sha256=downloaded.sha256, num_peaks=decision.num_peaks or policy.default_num_peaks,
            detail_samples_per_pixel=policy.detail_samples_per_pixel, max_size_bytes=policy.max_file_size_bytes,
            waveform_key=f"waveforms/{request.stemId}_waveform_{stamp}.json",
            detail_key=f"waveforms/{request.stemId}_waveform_{stamp}.dat",
            created_at=workflow.now().isoformat(), remove_downloaded=self._analysis_removes_download)
        try:
            outcome = await self._activity(AudioActivities.analyse_audio, analyse,
                                           task_queue=downloaded.host_task_queue,
                                           schedule_to_start_timeout=HOST_PICKUP_TIMEOUT,
                                           heartbeat_timeout=ANALYSIS_HEARTBEAT, cancellation_type=WAITED,
                                           summary=f"analyse into {analyse.num_peaks} peaks")
            self._download_removed = self._analysis_removes_download
        except StemFailedError as failed:
            if failed.failure.error_code != "host_unavailable":
                raise
            workflow.logger.info("host %s did not pick up the analysis; fetching on any worker",
                                 downloaded.host_task_queue)
            analyse.downloaded = None
            outcome = await self._activity(AudioActivities.analyse_audio, analyse,
                                           heartbeat_timeout=ANALYSIS_HEARTBEAT, cancellation_type=WAITED,
                                           summary="analyse on any worker (fetched again)")
        return AnalysisResult(audio_data_hash=downloaded.sha256, waveform_data_path=outcome.waveform_data_path,
                              file_size=downloaded.size, duration=outcome.duration,
                              sample_rate=outcome.sample_rate, num_peaks=outcome.num_peaks,
                              channels=outcome.channels, format=outcome.format,
                              waveform_detail_path=outcome.waveform_detail_path)

    async def _deliver(self, kind: WebhookKind, body: dict[str, object]) -> None:
        info = workflow.info()
        delivery = WebhookDelivery(kind=kind, body=body,
                                   idempotency_key=f"{info.workflow_id}:{info.run_id}:{kind.value}")
        policy = self._input.policy
        # One attempt is one POST bounded by the HTTP timeout; a lost worker is noticed soon after.
        attempt_deadline = timedelta(seconds=2 * policy.webhook_timeout_seconds + 5)
        await self._activity(WebhookActivities.send_webhook, delivery,
                             schedule_to_close_timeout=timedelta(seconds=policy.webhook_retry_horizon_seconds),
                             start_to_close_timeout=attempt_deadline, summary=f"{kind.value} webhook",
                             retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                                      maximum_interval=timedelta(minutes=10)),
                             local=kind is WebhookKind.HASH_CHECK and self._hash_check_runs_locally)

    async def _remove_temp_files(self, downloaded: DownloadedObject) -> None:
        try:
            await workflow.execute_activity(TempActivities.remove_stem_files, self._status.stem_id,
                                            task_queue=downloaded.host_task_queue,
                                            schedule_to_start_timeout=HOST_PICKUP_TIMEOUT,
                                            start_to_close_timeout=timedelta(seconds=30),
                                            retry_policy=RetryPolicy(maximum_attempts=3),
                                            summary="remove this stem's temp files")
        except ActivityError:
            workflow.logger.warning("temp files of %s stay for the periodic sweep on %s",
                                    self._status.stem_id, downloaded.host_task_queue)

    async def _activity(self, method: Callable[..., Any], argument: BaseModel, *, task_queue: str | None = None,
                        schedule_to_start_timeout: timedelta | None = None,
                        schedule_to_close_timeout: timedelta = STEP_DEADLINE,
                        start_to_close_timeout: timedelta | None = None,
                        heartbeat_timeout: timedelta | None = None,
                        retry_policy: RetryPolicy = IO_RETRY, summary: str | None = None,
                        cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
                        local: bool = False) -> Any:
        """Runs one activity; a failure it cannot recover from becomes a StemFailedError with a readable reason.

        `local` runs it in this worker's workflow task (no task queue, host or heartbeat): for short steps only."""
        options: dict[str, Any] = dict(
            schedule_to_close_timeout=schedule_to_close_timeout,
            start_to_close_timeout=start_to_close_timeout or schedule_to_close_timeout,
            retry_policy=retry_policy, summary=summary, cancellation_type=cancellation_type)
        try:
            if local:
                return await workflow.execute_local_activity_method(method, argument, **options)
            return await workflow.execute_activity_method(
                method, argument, task_queue=task_queue, schedule_to_start_timeout=schedule_to_start_timeout,
                heartbeat_timeout=heartbeat_timeout, **options)
        except ActivityError as error:
            cause: BaseException | None = error.cause
        except (ApplicationError, TimeoutError, CancelledError) as error:
            if not local:
                raise
            cause = error  # a local activity's failure reaches the workflow without the ActivityError around it
        if isinstance(cause, CancelledError):
            raise asyncio.CancelledError(cause.message)
        raise StemFailedError(failure_of(cause))

    def _completion(self, status: Literal["SUCCESS", "FAILURE"],
                    result: AnalysisResult | DuplicateDeletedResult | FailureResult,
                    started: datetime) -> CompletionPayload:
        request = self._input.request
        decision = self._decision
        return CompletionPayload(
            stemId=request.stemId, userId=request.userId, trackId=request.trackId,
            upstreamId=decision.upstream_id if decision else None, status=status, result=result,
            timestamp=workflow.now().isoformat(), original_filename=request.original_filename,
            processing_time=round((workflow.now() - started).total_seconds(), 3),
            audio_wave_path=result.waveform_data_path if isinstance(result, AnalysisResult) else None,
            stageId=request.stageId)


def _ending(result: AnalysisResult | DuplicateDeletedResult | FailureResult) -> str:
    """`analysed`, `duplicate_deleted` or the error code."""
    if isinstance(result, FailureResult):
        return result.error_code
    return "analysed" if isinstance(result, AnalysisResult) else "duplicate_deleted"


def failure_of(cause: BaseException | None) -> FailureResult:
    """A readable failure from what made an activity fail (ActivityError.cause)."""
    if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
        return FailureResult(error="the host holding the file did not pick up the step", error_code="host_unavailable")
    if isinstance(cause, TimeoutError):
        last = cause.cause.message if isinstance(cause.cause, ApplicationError) else "no answer"
        return FailureResult(error=f"gave up after retrying until the step's deadline; last error: {last}",
                             error_code="timeout")
    if isinstance(cause, ApplicationError):
        code = cause.type if cause.non_retryable and cause.type else WaveFlowError.code
        return FailureResult(error=cause.message, error_code=code)
    return FailureResult(error=str(cause or "the step failed without a reason"), error_code=WaveFlowError.code)
