"""The wire contract: every message the NestJS server sends, the decision it signals, and every webhook body
WaveFlow sends back. Field names are the server's (camelCase and snake_case mixed); docs/contract.md describes
them and docs/schemas/ is generated from them. Internal workflow and activity payloads are in waveflow.models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from waveflow.errors import REPORTED_CODES
from waveflow.validation import NumPeaks, S3Key, Sha256Hex, ShortText, StemId


class WireModel(BaseModel):
    """Incoming messages: unknown fields are ignored (the parser reports them), numbers become strings."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, frozen=True)


class HashRequest(WireModel):
    """kwargs of `generate_hash_and_webhook`: the start of a stem."""

    stemId: StemId
    filepath: S3Key
    userId: ShortText | None = None
    trackId: ShortText | None = None
    timestamp: ShortText | None = None
    original_filename: ShortText | None = None
    stageId: ShortText | None = None


class DuplicateFileRequest(WireModel):
    """kwargs of `process_duplicate_file`: the server says the stem is a duplicate."""

    stemId: StemId
    filepath: S3Key
    audio_hash: Sha256Hex
    userId: ShortText | None = None
    trackId: ShortText | None = None


class AudioAnalysisRequest(WireModel):
    """kwargs of `process_audio_analysis`: the server says the stem is new."""

    stemId: StemId
    filepath: S3Key
    audio_hash: Sha256Hex | None = None
    userId: ShortText | None = None
    trackId: ShortText | None = None
    timestamp: ShortText | None = None
    original_filename: ShortText | None = None
    num_peaks: NumPeaks | None = None
    upstreamId: ShortText | None = None


class DedupeDecision(BaseModel):
    """The `decide` signal: what the server decided after hash-check."""

    duplicate: bool
    filepath: S3Key
    audio_hash: Sha256Hex | None = None
    num_peaks: NumPeaks | None = None
    upstream_id: ShortText | None = None


class AudioInsights(BaseModel):
    """What a musician needs to know about a stem (or a mix), measured in the pass that draws its waveform."""

    integrated_lufs: float | None
    """Integrated loudness, ITU-R BS.1770-4 with EBU R128 gating; null when all of it is under the -70 LUFS gate or
    it is shorter than one 400 ms block."""
    true_peak_dbtp: float | None
    """True peak (BS.1770-4 Annex 2, 4x oversampled), dBTP; null for digital silence."""
    sample_peak_dbfs: float | None
    """Largest sample, dBFS; null for digital silence."""
    clipped_samples: int
    """Samples at full scale (±32767/32768 and beyond), over all channels."""
    clipped_runs: int
    """Runs of consecutive full-scale samples in one channel (a lone full-scale sample is a run of one)."""
    first_clips_seconds: list[float]
    """Where the first clipped runs start, in seconds (at most 5)."""
    silent: bool
    """No sample louder than -60 dBFS: a muted export."""
    leading_silence_seconds: float
    """Before the first sample louder than -60 dBFS."""
    trailing_silence_seconds: float
    """After the last sample louder than -60 dBFS."""
    dc_offset: list[float]
    """Per channel, the mean sample (full scale = 1)."""


class AnalysisResult(BaseModel):
    """`result` of a SUCCESS completion after analysis (the Celery worker's fields plus added ones)."""

    audio_data_hash: str
    waveform_data_path: str
    file_size: int
    duration: float
    sample_rate: int
    num_peaks: int
    channels: int
    format: str
    waveform_detail_path: str
    insights: AudioInsights | None = Field(default=None, exclude_if=lambda value: value is None)
    """Absent from runs that started before WaveFlow measured them."""


class DuplicateDeletedResult(BaseModel):
    status: Literal["duplicate_file_deleted"] = "duplicate_file_deleted"
    audio_hash: str
    filepath: str


class FailureResult(BaseModel):
    error: str
    """A sentence the server can show a person."""
    error_code: str = Field(json_schema_extra={"enum": sorted(REPORTED_CODES)})
    """Stable, for machines: one of `waveflow.errors.REPORTED_CODES` (docs/contract.md says when each is sent)."""


class HashCheckPayload(BaseModel):
    stemId: str
    userId: str | None
    trackId: str | None
    filepath: str
    audio_hash: str
    timestamp: str | None
    original_filename: str | None
    status: Literal["hash_generated"] = "hash_generated"
    stageId: str | None = Field(default=None, exclude_if=lambda value: value is None)


class CompletionPayload(BaseModel):
    stemId: str
    userId: str | None
    trackId: str | None
    upstreamId: str | None
    status: Literal["SUCCESS", "FAILURE"]
    result: AnalysisResult | DuplicateDeletedResult | FailureResult
    timestamp: str
    original_filename: str | None
    processing_time: float
    audio_wave_path: str | None
    stageId: str | None = Field(default=None, exclude_if=lambda value: value is None)


class WebhookKind(StrEnum):
    HASH_CHECK = "hash-check"
    COMPLETION = "completion"
    MIXING_COMPLETE = "mixing-complete"


class DecisionReceipt(BaseModel):
    """What the `decide` update answers; a refused decision is a rejected update carrying the reason."""

    outcome: Literal["accepted", "already_decided"]
    decision_in_force: DedupeDecision


class MixRequest(WireModel):
    """kwargs of `mix_stems_and_upload`. `stem_paths` is checked by the workflow, so that a missing, empty,
    too long or malformed list still ends in a FAILURE webhook the server sees."""

    stageId: StemId
    upstreamId: ShortText | None = None
    stem_paths: list[str] | None = None


class MixingCompletePayload(BaseModel):
    """`POST {WEBHOOK_URL}/mixing-complete`: the old worker's fields plus the mix's facts; on FAILURE the facts
    are null and `result` holds `{error, error_code}`."""

    stageId: str
    status: Literal["SUCCESS", "FAILURE"]
    upstreamId: str | None
    task_id: str
    stem_count: int
    stem_paths: list[str]
    mixed_file_path: str | None = None
    waveform_data_path: str | None = None
    waveform_detail_path: str | None = None
    audio_data_hash: str | None = None
    file_size: int | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    peak: float | None = None
    gain: float | None = None
    loudness_lufs: float | None = None
    insights: AudioInsights | None = Field(default=None, exclude_if=lambda value: value is None)
    processing_time: float
    timestamp: str
    result: FailureResult | None = Field(default=None, exclude_if=lambda value: value is None)
