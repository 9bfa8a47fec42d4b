"""One mixdown request, one durable workflow: download the stems on one host, mix there, webhook the result."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from temporalio import workflow
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.mixing import MixingActivities
    from activities.s3 import S3Activities
    from metrics import mix_completed
    from waveflow.contract import FailureResult, MixingCompletePayload, MixRequest, WebhookKind
    from waveflow.errors import ErrorCode
    from waveflow.messages import ParsedMessage, PoisonMessageError
    from waveflow.mixing import check_stem_paths
    from waveflow.models import (
        DownloadedObject,
        DownloadRequest,
        MixJob,
        MixOutcome,
        MixOutputKeys,
        MixPhase,
        MixPolicy,
        MixResult,
        MixStatus,
        MixStemsInput,
        MixStemSource,
        MixStemStatus,
    )
    from waveflow.settings import Settings
    from workflows.steps import (
        ANALYSIS_HEARTBEAT,
        DOWNLOAD_HEARTBEAT,
        HOST_PICKUP_TIMEOUT,
        SHORT_STEP,
        StepFailedError,
        deliver_outcome,
        enter_phase,
        fail_run,
        remove_temp_files,
        run_activity,
    )

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

WORKFLOW_NAME = "MixStemsWorkflow"
OUTPUT_KEYS_CARRY_THE_RUN = "mix-output-keys-carry-the-run"
"""Patch: the output keys end in the run id's random part. By the millisecond alone, two mixes of one stage
started together wrote the same keys, and a failed one's discard deleted what the other reported."""


def mix_workflow_id(request: MixRequest, message_id: str | None) -> str:
    """The stage and a digest of the request: a redelivered message (same id, same body) joins the same run."""
    identity = json.dumps([message_id, request.upstreamId, request.stem_paths], separators=(",", ":"))
    return f"mix-{request.stageId}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def mix_policy(settings: Settings) -> MixPolicy:
    return MixPolicy(max_stems=settings.mix_max_stems, sample_rate=settings.mix_sample_rate,
                     channel_mode=settings.mix_channels, output_format=settings.mix_output_format,
                     num_peaks=settings.mix_num_peaks, detail_samples_per_pixel=settings.detail_samples_per_pixel,
                     max_file_size_bytes=settings.max_file_size_bytes,
                     max_mix_seconds=settings.mix_max_seconds, max_input_seconds=settings.mix_max_input_seconds,
                     webhook_retry_horizon_seconds=settings.webhook_retry_horizon_seconds,
                     webhook_timeout_seconds=settings.webhook_timeout_seconds)


async def start_mix(client: Client, settings: Settings, parsed: ParsedMessage,
                    task_id: str) -> WorkflowHandle[Any, Any] | None:
    """`mix_stems_and_upload`: one run per request; a redelivery joins the running one, or, once it ended,
    starts nothing (None)."""
    request = parsed.mix
    if request is None:
        raise PoisonMessageError(f"{parsed.task.value} carries no request")
    workflow_id = mix_workflow_id(request, parsed.message_id)
    paths = request.stem_paths or []
    try:
        return await client.start_workflow(
            MixStemsWorkflow.run,
            MixStemsInput(request=request, task_id=parsed.message_id or workflow_id, policy=mix_policy(settings)),
            id=workflow_id, task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"mixdown of {len(paths)} stems · stage {request.stageId}",
            rpc_timeout=settings.temporal_rpc_timeout)
    except WorkflowAlreadyStartedError:
        return None


@workflow.defn(name=WORKFLOW_NAME)
class MixStemsWorkflow:
    @workflow.init
    def __init__(self, params: MixStemsInput) -> None:
        self._input = params
        paths = params.request.stem_paths or []
        self._status = MixStatus(stage_id=params.request.stageId, phase=MixPhase.DOWNLOADING,
                                 stems=[MixStemStatus(key=path) for path in paths])

    @workflow.query(name="status")
    def status(self) -> MixStatus:
        return self._status

    @workflow.run
    async def run(self, params: MixStemsInput) -> MixResult:
        started = workflow.now()
        paths = params.request.stem_paths or []
        stamp = f"{int(workflow.now().timestamp() * 1000)}"
        if workflow.patched(OUTPUT_KEYS_CARRY_THE_RUN):
            stamp += f"_{workflow.info().run_id.replace('-', '')[-12:]}"
        stage_id = params.request.stageId
        outputs = MixOutputKeys(mixed_key=f"mixed/{stage_id}_mixed_{stamp}.{params.policy.output_format}",
                                waveform_key=f"waveforms/{stage_id}_mixed_waveform_{stamp}.json",
                                detail_key=f"waveforms/{stage_id}_mixed_waveform_{stamp}.dat")
        temp_id = f"mix-{hashlib.sha256(workflow.info().workflow_id.encode()).hexdigest()[:24]}"
        host: str | None = None
        outputs_may_exist = False
        try:
            problem = check_stem_paths(params.request.stem_paths, params.policy.max_stems)
            if problem is not None:
                raise StepFailedError(problem)
            self._enter(MixPhase.DOWNLOADING)
            host = await self._claim_host()
            sources = await self._download_all(paths, host, temp_id)
            self._enter(MixPhase.MIXING)
            outputs_may_exist = True
            outcome, host_lost = await self._mix(MixJob(temp_id=temp_id, stems=sources, policy=params.policy,
                                                        outputs=outputs, created_at=workflow.now().isoformat()), host)
            if host_lost:
                workflow.logger.warning("temp files of %s stay for the periodic sweep on %s", temp_id, host)
                host = None
            self._status.outcome = outcome
            webhook = self._webhook("SUCCESS", started, outcome=outcome)
        except StepFailedError as failed:
            self._status.error = failed.failure
            webhook = self._webhook("FAILURE", started, failure=failed.failure)
        except asyncio.CancelledError:
            self._status.error = FailureResult(error="the mixdown was cancelled; nothing it made is kept",
                                               error_code=ErrorCode.CANCELLED)
            webhook = self._webhook("FAILURE", started, failure=self._status.error)
        if host is not None:
            await remove_temp_files(temp_id, host, "mix")
        if webhook.status == "FAILURE" and outputs_may_exist:
            await self._discard(outputs)
        self._enter(MixPhase.SENDING_WEBHOOK)
        await deliver_outcome(WebhookKind.MIXING_COMPLETE, webhook.model_dump(mode="json"), params.policy,
                              self._status, MixPhase.FAILED)
        mix_completed(webhook.status)
        if webhook.result is not None:
            self._enter(MixPhase.FAILED)
            fail_run(webhook.result)
        self._enter(MixPhase.COMPLETED)
        return MixResult(status=webhook.status, webhook=webhook)

    def _enter(self, phase: MixPhase) -> None:
        enter_phase(self._status, phase)

    async def _claim_host(self) -> str:
        host: str = await run_activity(MixingActivities.claim_host, None, start_to_close_timeout=SHORT_STEP,
                                         summary="pick the host that downloads and mixes")
        self._status.host_task_queue = host
        return host

    async def _download_all(self, paths: list[str], host: str, temp_id: str) -> list[MixStemSource]:
        """Every stem at once on the mixing host; all of them end before a failure is reported, so the temp
        cleanup that follows finds every file. A host that stops picking up work leaves the rest to the mix
        activity on any worker, which fetches what is missing."""
        results = await asyncio.gather(*(self._download(index, path, host, temp_id)
                                         for index, path in enumerate(paths)), return_exceptions=True)
        sources = []
        for path, result in zip(paths, results, strict=True):
            if isinstance(result, StepFailedError):
                if result.failure.error_code != ErrorCode.HOST_UNAVAILABLE:
                    raise StepFailedError(FailureResult(error=f"stem {path}: {result.failure.error}",
                                                       error_code=result.failure.error_code))
                sources.append(MixStemSource(key=path, downloaded=None, expected_sha256=None))
            elif isinstance(result, BaseException):
                raise result
            else:
                sources.append(MixStemSource(key=path, downloaded=result, expected_sha256=result.sha256))
        return sources

    async def _download(self, index: int, path: str, host: str, temp_id: str) -> DownloadedObject:
        stem = self._status.stems[index]
        stem.state = "downloading"
        try:
            downloaded: DownloadedObject = await run_activity(
                S3Activities.download_and_hash,
                DownloadRequest(stem_id=temp_id, key=path, max_size_bytes=self._input.policy.max_file_size_bytes),
                task_queue=host, schedule_to_start_timeout=HOST_PICKUP_TIMEOUT, heartbeat_timeout=DOWNLOAD_HEARTBEAT,
                summary=f"download and hash stem {index + 1}: {path}")
        except StepFailedError:
            stem.state = "failed"
            raise
        stem.state, stem.audio_hash, stem.file_size = "downloaded", downloaded.sha256, downloaded.size
        return downloaded

    async def _mix(self, job: MixJob, host: str) -> tuple[MixOutcome, bool]:
        """The mix on the host holding the stems; (outcome, whether that host was lost on the way)."""
        summary = f"mix {len(job.stems)} stems"
        if any(stem.downloaded is None for stem in job.stems):
            return await self._mix_anywhere(job, summary), True
        try:
            outcome: MixOutcome = await run_activity(
                MixingActivities.mix_and_upload, job, task_queue=host, schedule_to_start_timeout=HOST_PICKUP_TIMEOUT,
                heartbeat_timeout=ANALYSIS_HEARTBEAT, summary=summary)
            return outcome, False
        except StepFailedError as failed:
            if failed.failure.error_code != ErrorCode.HOST_UNAVAILABLE:
                raise
        workflow.logger.info("host %s did not pick up the mix; fetching the stems on any worker", host)
        return await self._mix_anywhere(job, summary), True

    async def _mix_anywhere(self, job: MixJob, summary: str) -> MixOutcome:
        return await run_activity(MixingActivities.mix_and_upload, job, heartbeat_timeout=ANALYSIS_HEARTBEAT,
                                    summary=f"{summary} on any worker (stems fetched again)")

    async def _discard(self, outputs: MixOutputKeys) -> None:
        """A failed mix leaves nothing in S3, even when it failed between two of its uploads."""
        try:
            await run_activity(MixingActivities.discard_outputs, outputs, start_to_close_timeout=SHORT_STEP,
                                 summary="remove what the failed mix may have uploaded")
        except StepFailedError as failed:
            workflow.logger.error("could not remove the outputs %s of a failed mix: %s", outputs.all(),
                                  failed.failure.error)

    def _webhook(self, status: Literal["SUCCESS", "FAILURE"], started: datetime, *,
                 outcome: MixOutcome | None = None, failure: FailureResult | None = None) -> MixingCompletePayload:
        request = self._input.request
        paths = request.stem_paths or []
        facts = outcome.model_dump(exclude={"stem_formats"}) if outcome is not None else {}
        return MixingCompletePayload(
            stageId=request.stageId, status=status, upstreamId=request.upstreamId, task_id=self._input.task_id,
            stem_count=len(paths), stem_paths=paths,
            processing_time=round((workflow.now() - started).total_seconds(), 3), timestamp=workflow.now().isoformat(),
            result=failure, **facts)
