"""Every setting WaveFlow reads from the environment, in one place."""

from __future__ import annotations

import socket
import sys
import tempfile
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from waveflow.audio.waveform import analysis_temp_bytes
from waveflow.resources import default_concurrent_analyses
from waveflow.signing import check_secret

EMPTY_MEANS_DISABLED = frozenset({"metrics_bind_address", "worker_health_bind_address", "bridge_health_bind_address",
                                  "s3_success_record_prefix"})


class Settings(BaseSettings):
    """An empty variable is an unset one (Compose's `${VAR:-}` passes empty strings), except for the bind
    addresses, where empty switches the endpoint off."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    aws_region: str = "ap-northeast-2"
    s3_bucket_name: str = Field(min_length=3, max_length=63)
    sqs_queue_url: str | None = None
    sqs_dlq_url: str | None = None
    webhook_url: HttpUrl
    webhook_secret: SecretStr | None = None
    """`whsec_…`: signs webhooks per Standard Webhooks."""
    webhook_legacy_secret: SecretStr | None = None
    """The secret of the earlier `X-WaveFlow-Signature` scheme, sent beside the new headers while migrating."""
    log_level: str = "INFO"

    temporal_task_queue: str = "waveflow"
    worker_host_id: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    temp_dir: Path = Path(tempfile.gettempdir()) / "waveflow"

    temp_budget_mb: int = Field(default=8192, ge=1)
    """The temp disk a worker host may fill: downloads (also while they wait for a decision), analyses' and mixes'
    files all reserve against it before writing. Size the temp volume a little above it (docs/kubernetes.md)."""
    temp_admission_wait_seconds: float = Field(default=60.0, gt=0)
    """A step waits this long, heartbeating, for room in the budget; then it fails and Temporal retries it later."""
    max_file_size_mb: int = Field(default=1024, ge=1)
    local_download_max_mb: float = Field(default=8.0, ge=0)
    """A stem's object up to this size is downloaded and hashed in its workflow's first task, and analysed in the task
    that has the decision, as local activities (no activity task, two workflow tasks fewer); a larger one, or any when
    0, by activities of their own."""
    max_audio_seconds: float = Field(default=10800.0, gt=0)
    """Longer audio ends in `audio_too_long`, checked on the length the header declares and on the decoded count."""
    default_num_peaks: int = Field(default=1024, ge=1)
    detail_samples_per_pixel: int = Field(default=256, ge=32, le=65536)
    dedupe_decision_timeout_seconds: float = Field(default=3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_horizon_seconds: float = Field(default=86400.0, gt=0)
    s3_delete_allowed_prefixes: Annotated[tuple[str, ...], NoDecode] = ()
    s3_success_record_prefix: str = Field(default="waveflow/succeeded/", pattern=r"^$|^[A-Za-z0-9._/-]*/$")
    """Where a stem's success is recorded (`<prefix><stemId>.json`), for the bridge to check; empty disables."""

    sqs_wait_time_seconds: int = Field(default=20, ge=0, le=20)
    sqs_visibility_timeout_seconds: int = Field(default=60, ge=5, le=43200)
    metrics_bind_address: str = "0.0.0.0:9464"
    temporal_search_attributes: bool = False
    """Set WaveFlowUserId, WaveFlowTrackId and WaveFlowStage on stems; they must be registered first."""
    max_concurrent_activities: int = Field(default=32, ge=1)
    max_concurrent_analyses: int = Field(default_factory=default_concurrent_analyses, ge=1)
    """CPU-bound steps (analyses, mixes) running at once on a host; more wait for a core, heartbeating. The default
    is the cores the container may use (its cgroup CPU quota), not the node's, and no more than its memory limit
    holds (`waveflow.resources.worker_memory_bytes`)."""
    decoder_stall_seconds: float = Field(default=30.0, gt=0)
    """A decoder (analysis or mix) that makes no progress for this long is killed, and the stem or mix ends in
    `damaged_audio`: a file that hangs it cannot hold the host's core."""
    worker_health_bind_address: str = "0.0.0.0:9465"
    """The worker's /livez and /readyz; empty disables."""
    bridge_health_bind_address: str = "0.0.0.0:9466"
    """The bridge's /livez, /readyz and /metrics; empty disables."""
    temporal_rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    """One call to Temporal (a hand-over, a probe) gives up after this long."""
    bridge_probe_max_seconds: float = Field(default=30.0, gt=0)
    """While Temporal is unavailable, the bridge probes it at growing intervals up to this one."""
    bridge_misconfigured_report_seconds: float = Field(default=60.0, gt=0)
    """While Temporal refuses the configuration, the bridge repeats its error line at this interval."""
    mix_max_stems: int = Field(default=32, ge=1, le=32)
    """More stems than this end a mix with `too_many_stems`; 32 is the mixer's bounded-memory maximum."""
    mix_max_seconds: float = Field(default=3600.0, gt=0)
    """A mix longer than this (its longest stem) ends in `mix_too_long`: it bounds the float temp file and output."""
    mix_max_input_seconds: float = Field(default=28800.0, gt=0)
    """Stems adding up to more audio than this end a mix in `mix_too_long`: it bounds the mix's decoding time."""
    mix_sample_rate: int | None = Field(default=None, ge=8000, le=384000)
    """None: the highest rate among the stems."""
    mix_channels: Literal["stereo", "mono"] = "stereo"
    mix_output_format: Literal["wav", "flac"] = "wav"
    mix_num_peaks: int = Field(default=4000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _budget_holds_a_stem(self) -> Settings:
        if self.temp_budget_bytes < self.stem_temp_bytes:
            raise ValueError(f"TEMP_BUDGET_MB ({self.temp_budget_mb}) must hold one stem: MAX_FILE_SIZE_MB "
                             f"({self.max_file_size_mb}) and its waveform, {-(-self.stem_temp_bytes // 1048576)} MB")
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        if value == "" and info.field_name not in EMPTY_MEANS_DISABLED:
            raise PydanticUseDefault
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret(value.get_secret_value())
        return value

    @field_validator("s3_delete_allowed_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def temporal_rpc_timeout(self) -> timedelta:
        return timedelta(seconds=self.temporal_rpc_timeout_seconds)

    @property
    def max_file_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024

    @property
    def local_download_max_bytes(self) -> int:
        return int(self.local_download_max_mb * 1024 * 1024)

    @property
    def temp_budget_bytes(self) -> int:
        return self.temp_budget_mb * 1024 * 1024

    @property
    def stem_temp_bytes(self) -> int:
        """The most temp disk one stem takes: its download and its analysis's `.dat`."""
        return self.max_file_size_bytes + analysis_temp_bytes(self.max_audio_seconds, self.detail_samples_per_pixel)

    @property
    def host_task_queue(self) -> str:
        """The task queue only this host's worker polls: where its local temp files can be reached."""
        return f"{self.temporal_task_queue}@{self.worker_host_id}"


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad variable, e.g. `WEBHOOK_URL: Field required`."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper() or "settings"
    return f"{name}: {first['msg']}"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings from the environment; on a missing or malformed variable, exit with one line naming it."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        sys.exit(f"waveflow: invalid environment: {describe_error(error)}")
