"""Mixdown activities: pick the mixing host, mix the downloaded stems and upload the results, discard a failure's."""

from __future__ import annotations

import contextlib
import hashlib
import io
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from temporalio import activity

from activities.aws_access import denied_as, s3_arn
from activities.errors import as_application_errors
from activities.heartbeats import CpuSlots, ProgressBeat
from activities.s3 import S3Activities
from metrics import count
from waveflow.audio.mix import ChannelMode, MixedAudio, MixOptions, MixProgress, OutputFormat, mix_into, plan_mix
from waveflow.models import MixJob, MixOutcome, MixOutputKeys
from waveflow.settings import Settings
from waveflow.tempfiles import TempArea, no_space_is_retryable


class MixingActivities:
    def __init__(self, settings: Settings, s3_activities: S3Activities, s3: Any, temp_area: TempArea,
                 cpu: CpuSlots) -> None:
        self._settings = settings
        self._s3_activities = s3_activities
        self._s3 = s3
        self._temp = temp_area
        self._cpu = cpu

    @activity.defn(name="ClaimMixHost")
    def claim_host(self) -> str:
        """Whichever worker picks this up downloads and mixes: its own host queue."""
        return self._settings.host_task_queue

    @activity.defn(name="MixAndUpload")
    def mix_and_upload(self, job: MixJob) -> MixOutcome:
        with as_application_errors(), contextlib.ExitStack() as cleanup:
            stems = []
            for stem in job.stems:
                local, fetched_here = self._s3_activities.local_copy(job.temp_id, stem.key, stem.downloaded,
                                                                     stem.expected_sha256,
                                                                     job.policy.max_file_size_bytes)
                path = Path(local.local_path)
                if fetched_here:
                    cleanup.callback(path.unlink, missing_ok=True)
                cleanup.enter_context(self._temp.lease(path))
                stems.append((stem.key, path))
            output_format = OutputFormat(job.policy.output_format)
            float_temp, mixed_path, detail_path = (self._temp.new_path(job.temp_id, suffix)
                                                   for suffix in ("f32", output_format.value, "dat"))
            for path in (float_temp, mixed_path, detail_path):
                cleanup.callback(path.unlink, missing_ok=True)
            options = MixOptions(sample_rate=job.policy.sample_rate, channel_mode=ChannelMode(job.policy.channel_mode),
                                 output_format=output_format, num_peaks=job.policy.num_peaks,
                                 detail_samples_per_pixel=job.policy.detail_samples_per_pixel,
                                 max_seconds=job.policy.max_mix_seconds,
                                 max_input_seconds=job.policy.max_input_seconds)
            beat = ProgressBeat({"phase": "mixing", "seconds": 0.0})
            progress = _heartbeat_progress([stem.key for stem in job.stems], beat)
            plan = self._cpu.run(partial(plan_mix, stems, options), progress=progress, beat=beat.repeat,
                                 what="the mixer")
            with (self._temp.reserve(job.temp_id, plan.temp_bytes(options.detail_samples_per_pixel),
                                     [float_temp, mixed_path, detail_path], "the mix", beat.waiting_for_disk),
                  no_space_is_retryable(mixed_path)):
                mixed = self._cpu.run(partial(mix_into, stems, options, float_temp=float_temp, output=mixed_path,
                                              detail_path=detail_path),
                                      progress=progress, beat=beat.repeat, what="the mixer")
            float_temp.unlink()
            with mixed_path.open("rb") as written:
                audio_hash = hashlib.file_digest(written, "sha256").hexdigest()
            self._upload(job, mixed, mixed_path, detail_path, output_format)
            count("waveflow_audio_seconds_mixed", round(mixed.duration), "Seconds of mixdown written")
            return MixOutcome(mixed_file_path=job.outputs.mixed_key, waveform_data_path=job.outputs.waveform_key,
                              waveform_detail_path=job.outputs.detail_key, audio_data_hash=audio_hash,
                              file_size=mixed_path.stat().st_size, duration=mixed.duration,
                              sample_rate=mixed.sample_rate, channels=mixed.channels, peak=mixed.peak, gain=mixed.gain,
                              loudness_lufs=mixed.loudness_lufs, insights=mixed.insights,
                              stem_formats=[audio_format.value for audio_format in mixed.stem_formats])

    @activity.defn(name="DiscardMixOutputs")
    def discard_outputs(self, outputs: MixOutputKeys) -> None:
        for key in outputs.all():
            with as_application_errors(), denied_as("s3:DeleteObject", self._arn(key)):
                self._s3.delete_object(Bucket=self._settings.s3_bucket_name, Key=key)

    def _arn(self, key: str) -> str:
        return s3_arn(self._settings.aws_region, self._settings.s3_bucket_name, key)

    def _upload(self, job: MixJob, mixed: MixedAudio, mixed_path: Path, detail_path: Path,
                output_format: OutputFormat) -> None:
        self._s3_activities.upload_waveform(mixed, job.created_at, job.outputs.waveform_key, detail_path,
                                            job.outputs.detail_key)
        # A mix can be hundreds of MB: the upload heartbeats as botocore reads it, so a slow S3 is not a dead host.
        with mixed_path.open("rb") as body, denied_as("s3:PutObject", self._arn(job.outputs.mixed_key)):
            self._s3.put_object(Bucket=self._settings.s3_bucket_name, Key=job.outputs.mixed_key,
                                Body=_HeartbeatingReader(body, mixed_path.stat().st_size),
                                ContentType=output_format.content_type)


class _HeartbeatingReader(io.RawIOBase):
    """A file for botocore to read from that heartbeats the bytes sent, at most once a second."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        super().__init__()
        self._file = file
        self._size = size
        self._beat = ProgressBeat()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: Any) -> int:
        read = self._file.readinto(buffer)
        self._beat({"phase": "uploading", "bytes_uploaded": self._file.tell(), "bytes_total": self._size})
        return read


def _heartbeat_progress(keys: list[str], beat: ProgressBeat) -> MixProgress:
    def report(phase: str, seconds: float, stem_seconds: list[float]) -> None:
        beat({"phase": phase, "seconds": round(seconds, 1),
              "stems": {key: round(done, 1) for key, done in zip(keys, stem_seconds, strict=True)}})

    return report
