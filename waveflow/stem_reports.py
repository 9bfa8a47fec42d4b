"""What a stem reports by webhook, built from its request and its steps' results. The workflow builds them, and so
does the local activity that sends one in the same step as the work it reports: both build the same body."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from waveflow.contract import (
    AnalysisResult,
    CompletionPayload,
    DedupeDecision,
    DuplicateDeletedResult,
    FailureResult,
    HashCheckPayload,
    HashRequest,
)
from waveflow.models import AnalysisOutcome, DownloadedObject


def hash_check_body(request: HashRequest, sha256: str) -> dict[str, object]:
    return HashCheckPayload(stemId=request.stemId, userId=request.userId, trackId=request.trackId,
                            filepath=request.filepath, audio_hash=sha256, timestamp=request.timestamp,
                            original_filename=request.original_filename,
                            stageId=request.stageId).model_dump(mode="json")


def analysis_result(downloaded: DownloadedObject, outcome: AnalysisOutcome) -> AnalysisResult:
    return AnalysisResult(audio_data_hash=downloaded.sha256, waveform_data_path=outcome.waveform_data_path,
                          file_size=downloaded.size, duration=outcome.duration, sample_rate=outcome.sample_rate,
                          num_peaks=outcome.num_peaks, channels=outcome.channels, format=outcome.format,
                          waveform_detail_path=outcome.waveform_detail_path, insights=outcome.insights)


def completion_payload(request: HashRequest, decision: DedupeDecision | None, status: Literal["SUCCESS", "FAILURE"],
               result: AnalysisResult | DuplicateDeletedResult | FailureResult, started: datetime,
               ended: datetime) -> CompletionPayload:
    return CompletionPayload(
        stemId=request.stemId, userId=request.userId, trackId=request.trackId,
        upstreamId=decision.upstream_id if decision else None, status=status, result=result,
        timestamp=ended.isoformat(), original_filename=request.original_filename,
        processing_time=max(0.0, round((ended - started).total_seconds(), 3)),
        audio_wave_path=result.waveform_data_path if isinstance(result, AnalysisResult) else None,
        stageId=request.stageId)
