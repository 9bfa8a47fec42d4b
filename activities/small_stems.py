"""A small stem's steps in two local activities: its download sends the hash-check, its analysis sends the completion
and records the success. Each added step is tried once, within what is left of the attempt's deadline; the result
says whether it was done, and the workflow runs what was not as a step of its own, with its retries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audio import AudioActivities
from activities.s3 import LATE_MARGIN, S3Activities, past_its_deadline, seconds_left
from activities.webhooks import WebhookActivities
from waveflow.contract import WebhookKind
from waveflow.errors import WebhookRejectedError
from waveflow.models import (
    AnalyseAndReportRequest,
    AnalysisReported,
    DownloadAndReportRequest,
    DownloadReported,
    WebhookDelivery,
)
from waveflow.stem_reports import analysis_result, completion_payload, hash_check_body
from waveflow.success_records import SuccessRecord

RECORD_NEEDS_SECONDS = 5.0


class SmallStemActivities:
    def __init__(self, s3: S3Activities, audio: AudioActivities, webhooks: WebhookActivities) -> None:
        self._s3 = s3
        self._audio = audio
        self._webhooks = webhooks

    @activity.defn(name="download_small_and_send_hash_check")
    def download_and_send_hash_check(self, request: DownloadAndReportRequest) -> DownloadReported | None:
        """`download_small_and_hash`, then the hash-check's POST; None when the object is left to the download
        activity."""
        downloaded = self._s3.download_small_and_hash(request.download)
        if downloaded is None:
            return None
        sent, refusal = self._post(WebhookDelivery(
            kind=WebhookKind.HASH_CHECK, idempotency_key=request.hash_check_key,
            body=hash_check_body(request.hash_check_for, downloaded.sha256)), request.post_within_seconds) \
            if request.hash_check_for is not None else (False, None)
        if past_its_deadline():  # as in `download_small_and_hash`: the workflow downloads by activity now
            Path(downloaded.local_path).unlink(missing_ok=True)
            raise RuntimeError(f"the local download of {request.download.key!r} ended after its deadline")
        return DownloadReported(downloaded=downloaded, hash_check_sent=sent, hash_check_refusal=refusal)

    @activity.defn(name="analyse_small_and_complete")
    def analyse_and_complete(self, request: AnalyseAndReportRequest) -> AnalysisReported:
        """`analyse_audio`, then the SUCCESS completion's POST and, once it is answered, the success record."""
        analyse = request.analyse
        outcome = self._audio.analyse_audio(analyse)
        assert analyse.downloaded is not None and outcome.finished_at is not None
        result = analysis_result(analyse.downloaded, outcome)
        body = completion_payload(request.request, request.decision, "SUCCESS", result, request.started,
                                  outcome.finished_at).model_dump(mode="json")
        sent, refusal = self._post(WebhookDelivery(kind=WebhookKind.COMPLETION,
                                                   idempotency_key=request.completion_key, body=body),
                                   request.post_within_seconds)
        return AnalysisReported(outcome=outcome, completion_sent=sent, completion_refusal=refusal,
                                success_recorded=sent and self._record_success(request))

    def _post(self, delivery: WebhookDelivery, within_seconds: float) -> tuple[bool, str | None]:
        """Whether it was delivered and, when the server refused it for good, its refusal."""
        if seconds_left() < within_seconds + LATE_MARGIN.total_seconds():
            return False, None
        try:
            self._webhooks.post(delivery, within_seconds=within_seconds)
        except Exception as error:
            if isinstance(error, ApplicationError) and error.type == WebhookRejectedError.code:
                return False, error.message
            activity.logger.info("the %s webhook is left to a step of its own: %s", delivery.kind.value, error)
            return False, None
        return True, None

    def _record_success(self, request: AnalyseAndReportRequest) -> bool:
        if seconds_left() < RECORD_NEEDS_SECONDS:
            return False
        info = activity.info()
        try:
            self._s3.record_success(SuccessRecord(
                stemId=request.request.stemId, workflow_id=info.workflow_id or "", run_id=info.workflow_run_id or "",
                filepath=request.request.filepath, audio_hash=request.analyse.expected_sha256, outcome="analysed",
                completed_at=datetime.now(UTC)))
        except Exception as error:
            activity.logger.info("the success record is left to a step of its own: %s", error)
            return False
        return True
