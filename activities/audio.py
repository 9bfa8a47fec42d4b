"""The analysis activity: decode the stem in one pass and put its waveform files in S3."""

from __future__ import annotations

import time
from pathlib import Path

from temporalio import activity

from activities.errors import as_application_errors
from activities.heartbeats import CpuSlots, ProgressBeat
from activities.metrics import count, observe
from activities.s3 import S3Activities
from waveflow.audio.analysis import AudioAnalysis, Progress, analyse_file
from waveflow.audio.waveform import waveform_document
from waveflow.errors import InvalidRequestError
from waveflow.models import AnalyseRequest, AnalysisOutcome, DownloadedObject
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
            beat = ProgressBeat()
            source, fetched_here = self._local_copy(request)
            detail_path = self._temp.new_path(request.stem_id, "dat")
            try:
                with (self._temp.lease(Path(source.local_path)), no_space_is_retryable(detail_path),
                      detail_path.open("w+b") as detail, self._cpu.held()):
                    analysis = analyse_file(Path(source.local_path), num_peaks=request.num_peaks,
                                            detail_samples_per_pixel=request.detail_samples_per_pixel,
                                            detail_output=detail, progress=_heartbeat_progress(beat))
                beat({"stage": "uploading", "seconds_analysed": analysis.duration})
                self._upload(request, analysis, detail_path)
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
                                   waveform_data_path=request.waveform_key, waveform_detail_path=request.detail_key)

    def _local_copy(self, request: AnalyseRequest) -> tuple[DownloadedObject, bool]:
        """The downloaded file when it is still on this host, else the object fetched again and re-verified."""
        downloaded = request.downloaded
        if downloaded is not None and self._temp.contains(Path(downloaded.local_path)) \
                and Path(downloaded.local_path).is_file():
            return downloaded, False
        activity.logger.info("local copy of %s is not on this host; fetching it again", request.key)
        fetched = self._s3.fetch(request.stem_id, request.key, request.max_size_bytes)
        if fetched.sha256 != request.expected_sha256:
            Path(fetched.local_path).unlink(missing_ok=True)
            raise InvalidRequestError(
                f"the file {request.key!r} changed after it was hashed (SHA-256 {fetched.sha256}, "
                f"expected {request.expected_sha256})"
            )
        return fetched, True

    def _upload(self, request: AnalyseRequest, analysis: AudioAnalysis, detail_path: Path) -> None:
        document = waveform_document(peaks=analysis.peaks, duration=analysis.duration,
                                     sample_rate=analysis.sample_rate, samples_per_pixel=analysis.samples_per_pixel,
                                     pixel_min=analysis.pixel_min, pixel_max=analysis.pixel_max,
                                     created_at=request.created_at)
        self._s3.upload_json(document, request.waveform_key)
        self._s3.upload_file(detail_path, request.detail_key, "application/octet-stream")


def _heartbeat_progress(beat: ProgressBeat) -> Progress:
    def report(frames: int, sample_rate: int) -> None:
        beat({"stage": "analysing", "seconds_analysed": round(frames / sample_rate, 1)})

    return report
