"""The analysis activity: decode the stem in one pass and put its waveform files in S3."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from temporalio import activity

from activities.errors import as_application_errors
from activities.heartbeats import CpuSlots, ProgressBeat
from activities.s3 import S3Activities
from metrics import count, observe
from waveflow.audio.analysis import LengthLimit, analyse_into
from waveflow.audio.waveform import analysis_temp_bytes
from waveflow.models import AnalyseRequest, AnalysisOutcome
from waveflow.tempfiles import TempArea, no_space_is_retryable


class AudioActivities:
    def __init__(self, s3: S3Activities, temp_area: TempArea, cpu: CpuSlots) -> None:
        self._s3 = s3
        self._temp = temp_area
        self._cpu = cpu

    @activity.defn(name="analyse_audio")
    def analyse_audio(self, request: AnalyseRequest) -> AnalysisOutcome:
        with as_application_errors():
            started = time.monotonic()
            beat = ProgressBeat({"phase": "analysing", "seconds_analysed": 0.0})
            source, fetched_here = self._s3.local_copy(request.stem_id, request.key, request.downloaded,
                                                       request.expected_sha256, request.max_size_bytes)
            detail_path = self._temp.new_path(request.stem_id, "dat")
            try:
                with (self._temp.lease(Path(source.local_path)),
                      self._temp.reserve(request.stem_id,
                                         analysis_temp_bytes(request.max_audio_seconds,
                                                             request.detail_samples_per_pixel),
                                         [detail_path], "the waveform", beat.waiting_for_disk,
                                         # a local analysis finding no room hands over to the activity at once
                                         wait=not activity.info().is_local),
                      no_space_is_retryable(detail_path)):
                    analysis = self._cpu.run(
                        partial(analyse_into, Path(source.local_path), detail_path, num_peaks=request.num_peaks,
                                detail_samples_per_pixel=request.detail_samples_per_pixel,
                                limit=LengthLimit(request.max_audio_seconds)),
                        progress=_heartbeat_progress(beat), beat=beat.repeat, what="the decoder")
                beat({"phase": "uploading", "seconds_analysed": analysis.duration})
                self._s3.upload_waveform(analysis, request.created_at, request.waveform_key, detail_path,
                                         request.detail_key)
            finally:
                detail_path.unlink(missing_ok=True)
                if fetched_here:
                    Path(source.local_path).unlink(missing_ok=True)
            if request.remove_downloaded:  # a retry after this finds no file and fetches the object again
                Path(source.local_path).unlink(missing_ok=True)
            count("waveflow_audio_seconds_analysed", round(analysis.duration), "Seconds of audio analysed")
            if analysis.duration > 0:
                observe("waveflow_analysis_seconds_per_audio_second", (time.monotonic() - started) / analysis.duration,
                        "Wall-clock seconds an analysis took (download to upload) per second of audio")
            return AnalysisOutcome(duration=analysis.duration, sample_rate=analysis.sample_rate,
                                   channels=analysis.channels, frames=analysis.frames,
                                   num_peaks=len(analysis.peaks), format=analysis.format.value,
                                   waveform_data_path=request.waveform_key, waveform_detail_path=request.detail_key,
                                   insights=analysis.insights, finished_at=datetime.now(UTC),
                                   fetched_again=fetched_here)



def _heartbeat_progress(beat: ProgressBeat) -> Callable[[int, int], None]:
    def report(frames: int, sample_rate: int) -> None:
        beat({"phase": "analysing", "seconds_analysed": round(frames / sample_rate, 1)})

    return report
