"""One stem, one durable workflow: hash, hash-check webhook, wait for the dedupe decision, act, complete."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from temporalio import workflow
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

with workflow.unsafe.imports_passed_through():
    from temporalio.client import WorkflowExecutionStatus

    from activities.audio import AudioActivities
    from activities.s3 import S3Activities
    from activities.small_stems import SmallStemActivities
    from metrics import stem_completed
    from waveflow.contract import (
        AnalysisResult,
        AudioAnalysisRequest,
        CompletionPayload,
        DecisionReceipt,
        DedupeDecision,
        DuplicateDeletedResult,
        DuplicateFileRequest,
        FailureResult,
        HashRequest,
        WebhookKind,
    )
    from waveflow.errors import ErrorCode
    from waveflow.messages import ParsedMessage, PoisonMessageError
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
        Phase,
        StemIngestInput,
        StemOutcome,
        StemPolicy,
        StemStatus,
    )
    from waveflow.settings import Settings
    from waveflow.stem_reports import analysis_result, completion_payload, hash_check_body
    from waveflow.success_records import SuccessRecord
    from workflows.search_attributes import ERROR_CODE, TRACK_ID, USER_ID
    from workflows.steps import (
        ANALYSIS_HEARTBEAT,
        DOWNLOAD_HEARTBEAT,
        HOST_PICKUP_TIMEOUT,
        LOCAL_ANALYSIS_LIMIT,
        LOCAL_DOWNLOAD_LIMIT,
        ONE_ATTEMPT,
        SHORT_STEP,
        WAITED,
        StepFailedError,
        deliver_outcome,
        deliver_webhook,
        enter_phase,
        fail_run,
        idempotency_key,
        remove_temp_files,
        run_activity,
    )

FAILED_RUN_TAKES_LATE_WORK = "failed-run-takes-late-requests"
"""Patch: a hash request handed over once the run has failed continues the run as a new one (before, it joined
the failing run and was lost), and a late decision does so even when the FAILURE completion was refused."""
SKIPS_A_HOST_THAT_LEFT = "skips-a-host-that-left"
"""Patch: a stem told that the host holding its download shut down (`host_left`) analyses on any host at once and
leaves that host's temp files to its sweep (before, it waited out the host queue's pick-up timeout twice)."""
ANALYSIS_REMOVES_DOWNLOAD = "analysis-removes-its-download"
"""Patch: on the success path the analysis removes the downloaded file itself, one activity fewer per stem."""
HASH_CHECK_RUNS_LOCALLY = "hash-check-runs-as-local-activity"
"""Patch: the hash-check webhook runs as a local activity, in the workflow task that asks for it: a POST of a few
milliseconds needs no task queue, and it saves an activity task and a workflow task. Its body is rebuilt the same
if that workflow task is retried."""

LEAN_HISTORY = "lean-history"
"""Patch: a new stem records this one patch marker in place of `ANALYSIS_REMOVES_DOWNLOAD`, `HASH_CHECK_RUNS_LOCALLY`
and `RECORDS_SUCCESS` (each marker also upserts `TemporalChangeVersion`: an event, a visibility write and a billed
action), and sends the completion of an analysis as a local activity in the workflow task that has the outcome,
like the hash-check: no activity task and no workflow task of its own. That task also ends the run, which the server
refuses when a signal came in meanwhile: the task is retried and POSTs the completion again, the same body under the
same `webhook-id`, as its `timestamp` is the end the analysis reported (recorded in the history). Other completions
stay activities: a deletion reports no end (a result older workers could not read), and a FAILURE comes just when
late decisions and requests arrive as signals, and its refusal must stay final."""
LOCAL_DOWNLOAD = "local-download"
"""Patch, recorded by a new stem in place of `LEAN_HISTORY` (one marker still): all that `LEAN_HISTORY` does, and an
object of at most `StemPolicy.local_download_max_bytes` is downloaded and hashed as a local activity in the run's
first workflow task, which also sends the hash-check: the stem's first two workflow tasks and its download activity
task become one workflow task. A larger object, one the host's temp budget has no room for at once, or a local
attempt that fails, is left to `download_and_hash` as before."""
LOCAL_ANALYSIS = "local-analysis"
"""Patch, recorded by a new stem in place of `LOCAL_DOWNLOAD` (one marker still): all that `LOCAL_DOWNLOAD` does, and
a small object (the same `StemPolicy.local_download_max_bytes`) is analysed as a local activity in the workflow task
that has the decision, which then sends the completion and records the success: the stem's decision and completion
workflow tasks and its analysis activity task become one workflow task. The local analysis uses the download when
that task runs on the host that holds it (its sticky queue makes it the usual case) and fetches the object again
elsewhere. One attempt of at most `LOCAL_ANALYSIS_LIMIT`; a retryable failure, or no room in the host's temp budget at
once, leaves the analysis to the activity on the download's host, as before. That workflow task, retried (a worker
lost, a signal that came in meanwhile), analyses again, to the same keys, and POSTs the completion again under the
same `webhook-id` with the same result: only its `timestamp` and `processing_time` are the retry's."""
COMBINED_STEPS = "combined-local-steps"
"""Patch, recorded by a new stem in place of `LOCAL_ANALYSIS` (one marker still): all that `LOCAL_ANALYSIS` does, in
two local activities instead of five. The local download also sends the hash-check once the object is hashed, and
the local analysis also sends the SUCCESS completion and, once that is answered, records the success
(`activities.small_stems`). Each added step is tried once, as one POST bounded by the local webhook budget or one
PUT; what was not done is run as its own step afterwards, as before, under the same `webhook-id` and with the same
body. Each local activity costs the worker a workflow activation and a thread hand-over; a small stem had seven
activations and now has four."""
RECORDS_SUCCESS = "records-success-in-s3"
"""Patch: after its SUCCESS completion a stem records its success in S3 (`waveflow.success_records`), which the
bridge checks, so a message delivered after the namespace forgot the run does not run the stem again."""

TASK_ID_MEMO = "taskId"
"""Memo of a stem run: the message that started it, so that its redelivery never starts another run."""
RERUNNABLE = {WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED,
              WorkflowExecutionStatus.TIMED_OUT}

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle


def workflow_id_for(stem_id: str) -> str:
    return f"stem-{stem_id}"


@workflow.defn(name="StemIngestWorkflow")
class StemIngestWorkflow:
    @workflow.init
    def __init__(self, params: StemIngestInput) -> None:
        self._input = params
        self._decision: DedupeDecision | None = params.decision
        self._status = StemStatus(stem_id=params.request.stemId, phase=Phase.DOWNLOADING,
                                  filepath=params.request.filepath, decision=params.decision)
        self._requested_by: str | None = None
        self._hosts_left: set[str] = set()
        self._analysed_at: datetime | None = None
        """When the analysis ended, as its activity reported (recorded: the same on replay); None from older
        workers."""

    @workflow.signal(name="decide")
    def decide(self, decision: DedupeDecision) -> None:
        """The server's dedupe decision (the SQS path); the first one counts, a different later one is recorded."""
        self._record(decision)

    @workflow.signal(name="requested")
    def requested(self, task_id: str) -> None:
        """A hash request the bridge handed over while this run runs (message `task_id`). The run's outcome answers
        it, unless the run had failed by then: the request then runs the stem again."""
        if (self._status.error is not None and self._requested_by is None
                and task_id != workflow.memo_value(TASK_ID_MEMO, None)):
            self._requested_by = task_id

    @workflow.signal(name="host_left")
    def host_left(self, host_task_queue: str) -> None:
        """The worker host on `host_task_queue` shut down (a deploy, a drain) while it held this stem's download."""
        self._hosts_left.add(host_task_queue)

    @workflow.signal(name="host_back")
    def host_back(self, host_task_queue: str) -> None:
        """That host started again and found this stem's download in its temp area (a restart in place)."""
        self._hosts_left.discard(host_task_queue)

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
        self._combines = workflow.patched(COMBINED_STEPS)
        self._analyses_here = self._combines or workflow.patched(LOCAL_ANALYSIS)
        self._downloads_here = self._analyses_here or workflow.patched(LOCAL_DOWNLOAD)
        self._lean = self._downloads_here or workflow.patched(LEAN_HISTORY)
        self._analysis_removes_download = self._lean or workflow.patched(ANALYSIS_REMOVES_DOWNLOAD)
        self._hash_check_runs_locally = self._lean or workflow.patched(HASH_CHECK_RUNS_LOCALLY)
        self._download_removed = False
        self._hash_check_sent = self._completion_sent = self._success_recorded = False
        self._hash_check_refusal: str | None = None
        self._completion_refusal: str | None = None
        started = self._started = workflow.now()
        downloaded: DownloadedObject | None = None
        self._enter(Phase.DOWNLOADING)
        try:
            downloaded = await self._download()
            if params.send_hash_check and not self._hash_check_sent:
                self._enter(Phase.SENDING_HASH_CHECK)
                await self._send_hash_check(downloaded)
            # A decision in before the hash-check returned (one from a retried first task's POST, say) would have
            # the analysis in the hash-check's task.
            decided_before_the_hash_check = params.send_hash_check and self._decision is not None
            decision = await self._await_decision()
            if decision.duplicate:
                result: AnalysisResult | DuplicateDeletedResult = await self._delete(downloaded, decision)
            else:
                result = await self._analyse(downloaded, decision, here=not decided_before_the_hash_check)
            self._status.result = result
            completion = self._completion("SUCCESS", result, started)
        except StepFailedError as failed:
            completion = self._failed(failed.failure, started)
        except asyncio.CancelledError:
            completion = self._failed(FailureResult(error="the stem was cancelled; the original file is kept",
                                                    error_code=ErrorCode.CANCELLED), started)
        if downloaded is not None and not self._download_removed and not self._has_left(downloaded.host_task_queue):
            await remove_temp_files(self._status.stem_id, downloaded.host_task_queue, "stem")
        self._enter(Phase.SENDING_COMPLETION)
        failure = completion.result if isinstance(completion.result, FailureResult) else None
        if not self._completion_sent:
            await deliver_outcome(WebhookKind.COMPLETION, completion.model_dump(mode="json"), params.policy,
                                  self._status, Phase.FAILED, search_attributes=params.policy.search_attributes,
                                  local_budget=self._local_webhook_budget
                                  if self._lean and not failure and self._analysed_at else None,
                                  on_refused=(lambda: self._continue_if_asked(failure, delivered=False))
                                  if failure else None, refusal=self._completion_refusal)
        stem_completed(completion.status, _ending(completion.result), completion.processing_time)
        if isinstance(completion.result, AnalysisResult | DuplicateDeletedResult):
            if (self._lean or workflow.patched(RECORDS_SUCCESS)) and not self._success_recorded:
                await self._record_success(completion.result)
            self._enter(Phase.COMPLETED)
            return StemOutcome(status=completion.status, completion=completion)
        return self._end_failed()

    async def _record_success(self, result: AnalysisResult | DuplicateDeletedResult) -> None:
        """A local activity: one marker event, no task. Without the record the stem still succeeded; only a
        message delivered after the namespace's retention could run it again, hence an error line, not a failure."""
        info = workflow.info()
        audio_hash, outcome = ((result.audio_data_hash, "analysed") if isinstance(result, AnalysisResult)
                               else (result.audio_hash, "duplicate_file_deleted"))
        record = SuccessRecord(stemId=self._status.stem_id, workflow_id=info.workflow_id, run_id=info.run_id,
                               filepath=self._input.request.filepath, audio_hash=audio_hash, outcome=outcome,
                               completed_at=workflow.now())
        try:
            await run_activity(S3Activities.record_success, record, schedule_to_close_timeout=SHORT_STEP, local=True,
                               summary="record the success in S3")
        except StepFailedError as failed:
            workflow.logger.error("the stem's success is not recorded in S3; a message for it delivered after the "
                                  "namespace's retention would run it again: %s", failed.failure.error)

    def _failed(self, failure: FailureResult, started: datetime) -> CompletionPayload:
        self._status.error = failure
        return self._completion("FAILURE", failure, started)

    def _end_failed(self) -> NoReturn:
        """After the FAILURE webhook: late work continues the run (`_continue_if_asked`); otherwise the run fails
        (red in the UI, found by `ExecutionStatus='Failed'`, re-runnable) or, when cancelled, ends cancelled."""
        failure = self._status.error
        assert failure is not None
        self._enter(Phase.FAILED)
        if self._input.policy.search_attributes:
            workflow.upsert_search_attributes([ERROR_CODE.value_set(failure.error_code)])
        self._continue_if_asked(failure, delivered=True)
        if failure.error_code == ErrorCode.CANCELLED:
            raise asyncio.CancelledError(failure.error)
        fail_run(failure)

    def _continue_if_asked(self, failure: FailureResult, *, delivered: bool) -> None:
        """A decision that came after the decision timeout continues the run as the decision-only run; a hash
        request handed over once the run had failed continues it as a new run. Otherwise returns."""
        if (failure.error_code == ErrorCode.DECISION_TIMEOUT and self._decision is not None
                and (delivered or workflow.patched(FAILED_RUN_TAKES_LATE_WORK))):
            workflow.continue_as_new(self._input.model_copy(update={"send_hash_check": False,
                                                                   "decision": self._decision}))
        if self._requested_by is not None and workflow.patched(FAILED_RUN_TAKES_LATE_WORK):
            workflow.continue_as_new(self._input.model_copy(update={"send_hash_check": True, "decision": None}),
                                     memo={TASK_ID_MEMO: self._requested_by})

    def _has_left(self, host_task_queue: str) -> bool:
        return host_task_queue in self._hosts_left and workflow.patched(SKIPS_A_HOST_THAT_LEFT)

    def _enter(self, phase: Phase) -> None:
        enter_phase(self._status, phase, search_attributes=self._input.policy.search_attributes)

    async def _download(self) -> DownloadedObject:
        request, policy = self._input.request, self._input.policy
        download = DownloadRequest(stem_id=request.stemId, key=request.filepath,
                                   max_size_bytes=policy.max_file_size_bytes,
                                   local_max_bytes=policy.local_download_max_bytes)
        downloaded = await self._download_here(download) \
            if self._downloads_here and policy.local_download_max_bytes > 0 else None
        if downloaded is None:
            downloaded = await run_activity(
                S3Activities.download_and_hash, download, heartbeat_timeout=DOWNLOAD_HEARTBEAT,
                summary=f"download and hash {request.filepath}", cancellation_type=WAITED)
        self._status.audio_hash = downloaded.sha256
        self._status.file_size = downloaded.size
        return downloaded

    async def _download_here(self, download: DownloadRequest) -> DownloadedObject | None:
        """The local download: one attempt. A final error (a missing object, a refused read, too large a file) is
        the stem's; after any other, the download activity, with its retries and heartbeats, takes over. Under
        `COMBINED_STEPS` it also sends the hash-check, when this run sends one."""
        try:
            if self._combines:
                reported: DownloadReported | None = await run_activity(
                    SmallStemActivities.download_and_send_hash_check, DownloadAndReportRequest(
                        download=download, hash_check_for=self._input.request if self._input.send_hash_check else None,
                        hash_check_key=idempotency_key(WebhookKind.HASH_CHECK),
                        post_within_seconds=self._input.policy.local_webhook_seconds),
                    schedule_to_close_timeout=LOCAL_DOWNLOAD_LIMIT,
                    retry_policy=ONE_ATTEMPT, local=True, summary=f"download and hash {download.key} here, report it")
                if reported is None:
                    return None
                self._hash_check_sent, self._hash_check_refusal = reported.hash_check_sent, reported.hash_check_refusal
                return reported.downloaded
            downloaded: DownloadedObject | None = await run_activity(
                S3Activities.download_small_and_hash, download, schedule_to_close_timeout=LOCAL_DOWNLOAD_LIMIT,
                retry_policy=ONE_ATTEMPT, local=True, summary=f"download and hash {download.key} here")
        except StepFailedError as failed:
            if failed.failure.error_code not in (ErrorCode.PROCESSING_FAILED, ErrorCode.TIMEOUT):
                raise
            workflow.logger.info("the local download failed (%s); downloading by activity", failed.failure.error)
            return None
        return downloaded

    async def _await_decision(self) -> DedupeDecision:
        self._enter(Phase.AWAITING_DECISION)
        timeout = self._input.policy.decision_timeout_seconds
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timedelta(seconds=timeout))
        except builtins.TimeoutError:
            raise StepFailedError(FailureResult(
                error=f"no duplicate decision arrived within {timeout:g} s; the original file is kept",
                error_code=ErrorCode.DECISION_TIMEOUT)) from None
        assert self._decision is not None
        return self._decision

    async def _delete(self, downloaded: DownloadedObject, decision: DedupeDecision) -> DuplicateDeletedResult:
        self._enter(Phase.DELETING_DUPLICATE)
        request = self._input.request
        await run_activity(S3Activities.delete_duplicate, DeleteRequest(
            stem_id=request.stemId, stem_key=request.filepath, decided_key=decision.filepath,
            computed_sha256=downloaded.sha256, decided_sha256=decision.audio_hash, etag=downloaded.etag,
            allowed_prefixes=self._input.policy.delete_allowed_prefixes), start_to_close_timeout=SHORT_STEP,
            summary=f"delete duplicate {request.filepath}")
        return DuplicateDeletedResult(audio_hash=downloaded.sha256, filepath=request.filepath)

    async def _analyse(self, downloaded: DownloadedObject, decision: DedupeDecision, *, here: bool) -> AnalysisResult:
        """`here`: a small object may be analysed in this workflow task. Not in the task that sent the hash-check:
        the server's decision on it would come in while the task runs and have its end refused, and the retried task
        would send the hash-check again."""
        self._enter(Phase.ANALYSING)
        request, policy = self._input.request, self._input.policy
        # A retried workflow task that analyses again (locally) writes to the same keys: no orphaned waveform. The
        # run's start is in its first event; `workflow.now()` at its first task is not (a retried task moves it).
        keyed_by = workflow.info().workflow_start_time if self._analyses_here else workflow.now()
        stamp = int(keyed_by.timestamp() * 1000)
        analyse = AnalyseRequest(
            stem_id=request.stemId, key=request.filepath, downloaded=downloaded,
            expected_sha256=downloaded.sha256, num_peaks=decision.num_peaks or policy.default_num_peaks,
            detail_samples_per_pixel=policy.detail_samples_per_pixel, max_size_bytes=policy.max_file_size_bytes,
            max_audio_seconds=policy.max_audio_seconds,
            waveform_key=f"waveforms/{request.stemId}_waveform_{stamp}.json",
            detail_key=f"waveforms/{request.stemId}_waveform_{stamp}.dat",
            created_at=workflow.now().isoformat(), remove_downloaded=self._analysis_removes_download)
        outcome = await self._analyse_here(analyse, decision) \
            if here and self._analyses_here and downloaded.size <= policy.local_download_max_bytes else None
        if outcome is None and not self._has_left(downloaded.host_task_queue):
            try:
                outcome = await run_activity(AudioActivities.analyse_audio, analyse,
                                             task_queue=downloaded.host_task_queue,
                                             schedule_to_start_timeout=HOST_PICKUP_TIMEOUT,
                                             heartbeat_timeout=ANALYSIS_HEARTBEAT, cancellation_type=WAITED,
                                             summary=f"analyse into {analyse.num_peaks} peaks")
                self._download_removed = self._analysis_removes_download
            except StepFailedError as failed:
                if failed.failure.error_code != ErrorCode.HOST_UNAVAILABLE:
                    raise
                workflow.logger.info("host %s did not pick up the analysis; fetching on any worker",
                                     downloaded.host_task_queue)
        if outcome is None:
            analyse.downloaded = None
            outcome = await run_activity(AudioActivities.analyse_audio, analyse,
                                         heartbeat_timeout=ANALYSIS_HEARTBEAT, cancellation_type=WAITED,
                                         summary="analyse on any worker (fetched again)")
        self._analysed_at = outcome.finished_at
        return analysis_result(downloaded, outcome)

    async def _analyse_here(self, analyse: AnalyseRequest, decision: DedupeDecision) -> AnalysisOutcome | None:
        """The local analysis: one attempt. A final error (damaged audio, too long a file) is the stem's; after any
        other, the analysis activity, with its retries and heartbeats, takes over."""
        try:
            if self._combines:
                reported: AnalysisReported = await run_activity(
                    SmallStemActivities.analyse_and_complete, AnalyseAndReportRequest(
                        analyse=analyse, request=self._input.request, decision=decision, started=self._started,
                        completion_key=idempotency_key(WebhookKind.COMPLETION),
                        post_within_seconds=self._input.policy.local_webhook_seconds),
                    schedule_to_close_timeout=LOCAL_ANALYSIS_LIMIT,
                    retry_policy=ONE_ATTEMPT, local=True, cancellation_type=WAITED,
                    summary=f"analyse into {analyse.num_peaks} peaks here, report it")
                outcome = reported.outcome
                self._completion_sent, self._success_recorded = reported.completion_sent, reported.success_recorded
                self._completion_refusal = reported.completion_refusal
            else:
                outcome = await run_activity(
                    AudioActivities.analyse_audio, analyse, schedule_to_close_timeout=LOCAL_ANALYSIS_LIMIT,
                    retry_policy=ONE_ATTEMPT, local=True, cancellation_type=WAITED,
                    summary=f"analyse into {analyse.num_peaks} peaks here")
        except StepFailedError as failed:
            if failed.failure.error_code not in (ErrorCode.PROCESSING_FAILED, ErrorCode.TIMEOUT):
                raise
            workflow.logger.info("the local analysis failed (%s); analysing by activity", failed.failure.error)
            return None
        # Run elsewhere, it fetched the object again: the download stays on its host, for `remove_temp_files`.
        self._download_removed = self._analysis_removes_download and not outcome.fetched_again
        return outcome

    async def _send_hash_check(self, downloaded: DownloadedObject) -> None:
        if self._hash_check_refusal is not None:
            raise StepFailedError(FailureResult(error=self._hash_check_refusal, error_code=ErrorCode.WEBHOOK_REJECTED))
        policy = self._input.policy
        await deliver_webhook(WebhookKind.HASH_CHECK, hash_check_body(self._input.request, downloaded.sha256),
                              timeout_seconds=policy.webhook_timeout_seconds,
                              retry_horizon_seconds=policy.webhook_retry_horizon_seconds,
                              local_budget=self._local_webhook_budget if self._hash_check_runs_locally else None)

    @property
    def _local_webhook_budget(self) -> timedelta:
        return timedelta(seconds=self._input.policy.local_webhook_seconds)

    def _completion(self, status: Literal["SUCCESS", "FAILURE"],
                    result: AnalysisResult | DuplicateDeletedResult | FailureResult,
                    started: datetime) -> CompletionPayload:
        # An analysis's SUCCESS is stamped with its recorded end, so that a retried task builds the same body.
        ended = self._analysed_at if status == "SUCCESS" and self._analysed_at else workflow.now()
        return completion_payload(self._input.request, self._decision, status, result, started, ended)


def _ending(result: AnalysisResult | DuplicateDeletedResult | FailureResult) -> str:
    """`analysed`, `duplicate_deleted` or the error code."""
    if isinstance(result, FailureResult):
        return result.error_code
    return "analysed" if isinstance(result, AnalysisResult) else "duplicate_deleted"



def stem_policy(settings: Settings) -> StemPolicy:
    return StemPolicy(decision_timeout_seconds=settings.dedupe_decision_timeout_seconds,
                      webhook_retry_horizon_seconds=settings.webhook_retry_horizon_seconds,
                      webhook_timeout_seconds=settings.webhook_timeout_seconds,
                      default_num_peaks=settings.default_num_peaks,
                      detail_samples_per_pixel=settings.detail_samples_per_pixel,
                      max_file_size_bytes=settings.max_file_size_bytes,
                      local_download_max_bytes=settings.local_download_max_bytes,
                      max_audio_seconds=settings.max_audio_seconds,
                      delete_allowed_prefixes=settings.s3_delete_allowed_prefixes,
                      search_attributes=settings.temporal_search_attributes)


async def start_stem(client: Client, settings: Settings, parsed: ParsedMessage,
                     task_id: str) -> WorkflowHandle[Any, Any] | None:
    """A hash request starts `stem-<stemId>`; a duplicate or analysis request delivers its decision, starting
    the stem with it when no run waits for it (a decision-only run, which sends no hash-check)."""
    request = parsed.request
    if isinstance(request, HashRequest):
        return await _start_or_join(client, settings, StemIngestInput(request=request, policy=stem_policy(settings)),
                                    task_id)
    request, decision = _decision_in(parsed)
    stem = HashRequest.model_validate(request.model_dump(exclude={"audio_hash", "num_peaks", "upstreamId"}))
    start = StemIngestInput(request=stem, policy=stem_policy(settings), send_hash_check=False)
    return await _start_or_join(client, settings, start, task_id, decision)


async def decide_running_stem(client: Client, settings: Settings, parsed: ParsedMessage,
                              task_id: str) -> WorkflowHandle[Any, Any] | None:
    """A decision for a stem whose run is waiting for it (the usual case): signalled to that run, which needs no
    lookup of the stem's success record first. None when no run of the stem is running: `start_stem` then."""
    request, decision = _decision_in(parsed)
    handle = client.get_workflow_handle_for(StemIngestWorkflow.run, workflow_id_for(request.stemId))
    try:
        await handle.signal(StemIngestWorkflow.decide, decision, rpc_timeout=settings.temporal_rpc_timeout)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return handle


def _decision_in(parsed: ParsedMessage) -> tuple[DuplicateFileRequest | AudioAnalysisRequest, DedupeDecision]:
    request = parsed.request
    if not isinstance(request, DuplicateFileRequest | AudioAnalysisRequest):
        raise PoisonMessageError(f"{parsed.task.value} carries no request")
    duplicate = isinstance(request, DuplicateFileRequest)
    return request, DedupeDecision(duplicate=duplicate, filepath=request.filepath, audio_hash=request.audio_hash,
                                   num_peaks=None if duplicate else request.num_peaks,
                                   upstream_id=None if duplicate else request.upstreamId)


async def _start_or_join(client: Client, settings: Settings, start: StemIngestInput, task_id: str,
                         decision: DedupeDecision | None = None) -> WorkflowHandle[Any, Any] | None:
    """Starts `stem-<stemId>`, joins its running run, or, when its last run did not succeed and this is a new
    message (not a redelivery of the one that started that run, nor a decision for a run that had one), runs it
    again."""
    workflow_id = workflow_id_for(start.request.stemId)
    # A decision joins a running run by signal-with-start; a hash request is signalled apart (`requested`), as
    # the run must know of it to run the stem again should it fail.
    on_conflict = WorkflowIDConflictPolicy.USE_EXISTING if decision else WorkflowIDConflictPolicy.FAIL

    async def start_run(reuse: WorkflowIDReusePolicy) -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(
            StemIngestWorkflow.run, start, id=workflow_id, task_queue=settings.temporal_task_queue,
            id_reuse_policy=reuse, id_conflict_policy=on_conflict,
            memo={TASK_ID_MEMO: task_id}, start_signal="decide" if decision else None,
            start_signal_args=[decision] if decision else [], rpc_timeout=settings.temporal_rpc_timeout,
            **_visible_as(start))

    # Each pass hands the message over or finds it is not to be, unless the stem changed in between: a run that
    # closed before the first start may be running by the describe (another bridge re-ran it), and the next pass
    # joins it. The bridge bounds the whole hand-over in time.
    while True:
        try:
            return await start_run(WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass
        last_run = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=settings.temporal_rpc_timeout)
        if last_run.status == WorkflowExecutionStatus.RUNNING:
            if decision is None and await _tell_the_run(client, settings, workflow_id, last_run.run_id, task_id):
                return client.get_workflow_handle(workflow_id, run_id=last_run.run_id)
            continue
        if last_run.status not in RERUNNABLE or (await last_run.memo()).get(TASK_ID_MEMO) == task_id:
            return None
        if decision is not None and (await _input_and_decision(client, workflow_id, last_run.run_id))[1]:
            return None  # that run had its decision: this one is a redelivery; only a new hash request re-runs
        try:
            return await start_run(WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        except WorkflowAlreadyStartedError:  # succeeded meanwhile: the next pass finds out
            continue


async def _tell_the_run(client: Client, settings: Settings, workflow_id: str, run_id: str | None,
                        task_id: str) -> bool:
    """Signals a hash request to a running run; False when that run closed meanwhile."""
    try:
        await client.get_workflow_handle_for(StemIngestWorkflow.run, workflow_id, run_id=run_id).signal(
            StemIngestWorkflow.requested, task_id, rpc_timeout=settings.temporal_rpc_timeout)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def tell_stems_about_their_host(client: Client, settings: Settings, stem_ids: set[str], *,
                                      left: bool) -> tuple[int, set[str]]:
    """Tells each stem whose download this host holds that the host is shutting down (`host_left`: their analyses
    start on another host at once) or, at start-up, that it is back with the file (`host_back`). Returns how many
    stems were running to hear it, and the ids Temporal has no running stem for: their files are nobody's now
    (a stem that ended while this host was away, or a mix's leftovers)."""
    news = StemIngestWorkflow.host_left if left else StemIngestWorkflow.host_back

    async def tell(stem_id: str) -> bool | None:
        """True when heard, None when no such stem runs, False when Temporal could not be asked."""
        try:
            await client.get_workflow_handle_for(StemIngestWorkflow.run, workflow_id_for(stem_id)).signal(
                news, settings.host_task_queue, rpc_timeout=settings.temporal_rpc_timeout)
        except RPCError as error:
            return None if error.status == RPCStatusCode.NOT_FOUND else False
        return True

    ids = sorted(stem_ids)
    answers = await asyncio.gather(*(tell(stem_id) for stem_id in ids))
    return sum(answer is True for answer in answers), {stem_id for stem_id, answer in zip(ids, answers, strict=True)
                                                       if answer is None}


def _visible_as(start: StemIngestInput) -> dict[str, Any]:
    """How a run shows in the UI and in visibility: its summary line and, when on, its search attributes."""
    request = start.request
    summary = (f"{request.original_filename or request.filepath} · user {request.userId or '-'}"
               f" · track {request.trackId or '-'}")
    attributes = TypedSearchAttributes([
        SearchAttributePair(key, value) for key, value in ((USER_ID, request.userId), (TRACK_ID, request.trackId))
        if value]) if start.policy.search_attributes else None
    return {"static_summary": summary, "search_attributes": attributes}


async def rerun_failed_stem(client: Client, workflow_id: str) -> WorkflowHandle[Any, Any] | None:
    """Runs a stem again when its current run failed: a new run with that run's input and the decision it had
    received, on its task queue, with its memo (so a redelivery of the message that started it still starts
    nothing). None when the current run is running, succeeded or was cancelled, or when another re-run starts
    first (the start is refused by the server then, not by this check): safe to repeat."""
    current = await client.get_workflow_handle(workflow_id).describe()
    if current.status != WorkflowExecutionStatus.FAILED:
        return None
    failed, decision = await _input_and_decision(client, workflow_id, current.run_id)
    start = failed.model_copy(update={"decision": decision, "send_hash_check": decision is None})
    try:
        return await client.start_workflow(
            StemIngestWorkflow.run, start, id=workflow_id, task_queue=current.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL, memo=await current.memo(), **_visible_as(start))
    except WorkflowAlreadyStartedError:
        return None


async def _input_and_decision(client: Client, workflow_id: str,
                              run_id: str | None) -> tuple[StemIngestInput, DedupeDecision | None]:
    """A run's input and the first decision it received (in its input, by signal or by update)."""
    started: StemIngestInput | None = None
    decision: DedupeDecision | None = None
    decode = client.data_converter.decode
    async for event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events():
        if event.HasField("workflow_execution_started_event_attributes"):
            [started] = await decode(event.workflow_execution_started_event_attributes.input.payloads,
                                     [StemIngestInput])
            decision = started.decision
        elif decision is None and event.HasField("workflow_execution_signaled_event_attributes"):
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name == "decide" and signal.input.payloads:
                [decision] = await decode([signal.input.payloads[0]], [DedupeDecision])
        elif decision is None and event.HasField("workflow_execution_update_accepted_event_attributes"):
            update = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
            if update.name == "decide" and update.args.payloads:
                [decision] = await decode([update.args.payloads[0]], [DedupeDecision])
    if started is None:
        raise ValueError(f"{workflow_id} run {run_id} has no start event")
    return started, decision
