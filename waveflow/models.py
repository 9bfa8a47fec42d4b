"""Pydantic models for workflow and activity inputs, outputs and queries: WaveFlow's internal payloads.

What crosses to the NestJS server (messages, the decision, webhook bodies) is in waveflow.contract.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from waveflow.contract import (
    AnalysisResult,
    AudioInsights,
    CompletionPayload,
    DedupeDecision,
    DuplicateDeletedResult,
    FailureResult,
    HashRequest,
    MixingCompletePayload,
    MixRequest,
    WebhookKind,
)
from waveflow.validation import NumPeaks


class StemPolicy(BaseModel):
    """The limits a stem runs under, fixed when it starts (from the bridge's settings)."""

    decision_timeout_seconds: float = 3600.0
    webhook_retry_horizon_seconds: float = 86400.0
    webhook_timeout_seconds: float = 10.0
    local_webhook_seconds: float = Field(default=2.0, validation_alias=AliasChoices("local_webhook_seconds",
                                                                                    "hash_check_local_seconds"))
    """How long a webhook (the hash-check; an analysis's completion too since `lean-history`) is retried as a local
    activity before it becomes a regular one: Temporal's guidance for a local activity is seconds, retries included, and
    while it retries, signals and updates wait. Earlier inputs name it `hash_check_local_seconds`."""
    default_num_peaks: NumPeaks = 1024
    detail_samples_per_pixel: int = 256
    max_file_size_bytes: int = 1024 * 1024 * 1024
    local_download_max_bytes: int = 8 * 1024 * 1024
    """Objects up to this size are downloaded in the workflow's first task and analysed in the task that has the
    decision, as local activities (patches `local-download`, `local-analysis`); 0: each by an activity of its own."""
    max_audio_seconds: float = 10800.0
    delete_allowed_prefixes: tuple[str, ...] = ()
    search_attributes: bool = False


class StemIngestInput(BaseModel):
    request: HashRequest
    policy: StemPolicy = StemPolicy()
    send_hash_check: bool = True
    """False when a decision arrived for a stem WaveFlow never hashed: hash it, then act on the decision."""
    decision: DedupeDecision | None = None
    """A decision known at start: one that came after the previous run stopped waiting for it."""


class Phase(StrEnum):
    DOWNLOADING = "downloading"
    SENDING_HASH_CHECK = "sending_hash_check"
    AWAITING_DECISION = "awaiting_decision"
    DELETING_DUPLICATE = "deleting_duplicate"
    ANALYSING = "analysing"
    SENDING_COMPLETION = "sending_completion"
    COMPLETED = "completed"
    FAILED = "failed"


class DownloadedObject(BaseModel):
    """An S3 object streamed to this host's temp area, hashed on the way."""

    local_path: str
    sha256: str
    size: int
    etag: str
    version_id: str | None = None
    host_task_queue: str


class AnalysisOutcome(BaseModel):
    """What the analysis found and where its waveform files went."""

    duration: float
    sample_rate: int
    channels: int
    frames: int
    num_peaks: int
    format: str
    waveform_data_path: str
    waveform_detail_path: str
    insights: AudioInsights | None = None
    """None in the results of analyses recorded before WaveFlow measured insights."""
    finished_at: datetime | None = None
    """When the analysis ended (the worker's clock): the completion's `timestamp`, the same however often the
    completion is built again. None in results recorded before."""
    fetched_again: bool = False
    """The analysis did not find the download on its host and fetched the object again (which it then removed)."""


class WebhookDelivery(BaseModel):
    """One webhook to deliver: the path under WEBHOOK_URL, the JSON body and its idempotency key."""

    kind: WebhookKind
    idempotency_key: str
    body: dict[str, object]


class StemStatus(BaseModel):
    """The `status` query: the phase and everything known so far."""

    stem_id: str
    phase: Phase
    filepath: str
    audio_hash: str | None = None
    file_size: int | None = None
    decision: DedupeDecision | None = None
    conflicting_decisions: list[DedupeDecision] = Field(default_factory=list)
    """Later decisions that differ from the one in force: recorded, logged, not acted upon."""
    result: AnalysisResult | DuplicateDeletedResult | None = None
    error: FailureResult | None = None


class StemOutcome(BaseModel):
    """What StemIngestWorkflow returns: the completion it sent."""

    status: Literal["SUCCESS", "FAILURE"]
    completion: CompletionPayload


class DownloadRequest(BaseModel):
    stem_id: str
    key: str
    max_size_bytes: int
    local_max_bytes: int = 0
    """For the local download: a larger object is left to the download activity."""


class AnalyseRequest(BaseModel):
    stem_id: str
    key: str
    downloaded: DownloadedObject | None
    """The file the download left on this host; None to fetch the object again (another host's file)."""
    expected_sha256: str
    num_peaks: int
    detail_samples_per_pixel: int
    max_size_bytes: int
    max_audio_seconds: float = 10800.0
    waveform_key: str
    detail_key: str
    created_at: str
    remove_downloaded: bool = False
    """Remove the downloaded file once the waveforms are uploaded: no separate temp-removal step follows."""


class DownloadAndReportRequest(BaseModel):
    """A small object's local download and, once it is hashed, its hash-check: one local activity."""

    download: DownloadRequest
    hash_check_for: HashRequest | None
    """The stem whose hash-check to send; None when it sends none (a decision-only run)."""
    hash_check_key: str
    post_within_seconds: float
    """The hash-check's one POST, bounded as a local webhook attempt is."""


class DownloadReported(BaseModel):
    downloaded: DownloadedObject
    hash_check_sent: bool
    """False: it was not sent, or not answered 2xx; the workflow delivers it as its own step."""
    hash_check_refusal: str | None = None
    """The server's final refusal of it (a 4xx that is not retried): the stem ends with it, as after its own step."""


class AnalyseAndReportRequest(BaseModel):
    """A small object's local analysis, then its SUCCESS completion and its success record: one local activity."""

    analyse: AnalyseRequest
    request: HashRequest
    decision: DedupeDecision
    started: datetime
    """When the run started its work: the completion's `processing_time` counts from it."""
    completion_key: str
    post_within_seconds: float


class AnalysisReported(BaseModel):
    outcome: AnalysisOutcome
    completion_sent: bool
    """False: it was not sent, or not answered 2xx; the workflow delivers it as its own step."""
    completion_refusal: str | None = None
    """The server's final refusal of it: the run ends failed with it, as after its own step."""
    success_recorded: bool
    """False: not recorded (or not tried, the completion unsent); the workflow records it as its own step."""


class DeleteRequest(BaseModel):
    stem_id: str
    stem_key: str
    decided_key: str
    computed_sha256: str
    decided_sha256: str | None
    etag: str
    allowed_prefixes: tuple[str, ...]


class SweepReport(BaseModel):
    """What a temp sweep removed and kept."""

    removed_files: int = 0
    removed_bytes: int = 0
    kept_in_use: int = 0
    kept_young: int = 0
    removed: list[str] = Field(default_factory=list)


class HostSweep(SweepReport):
    host_task_queue: str


class CleanupReport(BaseModel):
    hosts: list[HostSweep]
    unreachable_hosts: list[str]
    removed_files: int
    removed_bytes: int


class HealthCheck(BaseModel):
    name: str
    ok: bool
    detail: str


class HealthReport(BaseModel):
    status: Literal["healthy", "unhealthy"]
    checks: list[HealthCheck]
    worker: str
    versions: dict[str, str]


MixChannelMode = Literal["stereo", "mono"]
MixOutputFormat = Literal["wav", "flac"]


class MixPolicy(BaseModel):
    """The limits and settings a mix runs under, fixed when it starts (from the bridge's settings)."""

    max_stems: int = 32
    sample_rate: int | None = None
    channel_mode: MixChannelMode = "stereo"
    output_format: MixOutputFormat = "wav"
    num_peaks: NumPeaks = 4000
    detail_samples_per_pixel: int = 256
    max_file_size_bytes: int = 1024 * 1024 * 1024
    max_mix_seconds: float = 3600.0
    max_input_seconds: float = 28800.0
    webhook_retry_horizon_seconds: float = 86400.0
    webhook_timeout_seconds: float = 10.0


class MixStemsInput(BaseModel):
    request: MixRequest
    task_id: str
    """The producer's message id (the old worker's Celery task id), or the workflow id when it sent none."""
    policy: MixPolicy = MixPolicy()


class MixPhase(StrEnum):
    DOWNLOADING = "downloading"
    MIXING = "mixing"
    SENDING_WEBHOOK = "sending_webhook"
    COMPLETED = "completed"
    FAILED = "failed"


class MixStemStatus(BaseModel):
    key: str
    state: Literal["waiting", "downloading", "downloaded", "failed"] = "waiting"
    audio_hash: str | None = None
    file_size: int | None = None


class MixStemSource(BaseModel):
    """One stem for the mix activity: its key, and the file its download left on the mixing host, if any."""

    key: str
    downloaded: DownloadedObject | None
    expected_sha256: str | None
    """What the download hashed; a stem fetched again on another host must still have it."""


class MixOutputKeys(BaseModel):
    """Where a mix goes in S3, fixed by the workflow so that a retried upload overwrites the same objects."""

    mixed_key: str
    waveform_key: str
    detail_key: str

    def all(self) -> list[str]:
        return [self.mixed_key, self.waveform_key, self.detail_key]


class MixJob(BaseModel):
    """Input of the mix activity: the stems, the settings and the output keys."""

    temp_id: str
    """Names this mix's files in the temp area, so the host's temp cleanup finds them all."""
    stems: list[MixStemSource]
    policy: MixPolicy
    outputs: MixOutputKeys
    created_at: str


class MixOutcome(BaseModel):
    """What the mix activity wrote and measured."""

    mixed_file_path: str
    waveform_data_path: str
    waveform_detail_path: str
    audio_data_hash: str
    file_size: int
    duration: float
    sample_rate: int
    channels: int
    peak: float
    gain: float
    loudness_lufs: float | None
    stem_formats: list[str]
    insights: AudioInsights | None = None
    """None in the results of mixes recorded before WaveFlow measured insights."""


class MixStatus(BaseModel):
    """The mix workflow's `status` query."""

    stage_id: str
    phase: MixPhase
    host_task_queue: str | None = None
    stems: list[MixStemStatus]
    outcome: MixOutcome | None = None
    error: FailureResult | None = None


class MixResult(BaseModel):
    """What MixStemsWorkflow returns: the webhook it sent."""

    status: Literal["SUCCESS", "FAILURE"]
    webhook: MixingCompletePayload
