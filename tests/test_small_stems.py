"""A small stem's combined local steps on real S3 and the stand-in: the webhook each sends, and what it reports
left undone for the workflow to run apart."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from activities.audio import AudioActivities
from activities.heartbeats import CpuSlots
from activities.s3 import S3Activities
from activities.small_stems import SmallStemActivities
from activities.webhooks import WebhookActivities, webhook_connections
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack
from tests.test_local_download import MB, local_environment
from waveflow.contract import DedupeDecision, HashRequest
from waveflow.models import (
    AnalyseAndReportRequest,
    AnalyseRequest,
    AnalysisReported,
    DownloadAndReportRequest,
    DownloadedObject,
    DownloadReported,
    DownloadRequest,
)
from waveflow.signing import IDEMPOTENCY_HEADER
from waveflow.stem_reports import analysis_result, completion_payload, hash_check_body
from waveflow.success_records import SuccessRecords
from waveflow.tempfiles import TempArea

STEM = HashRequest(stemId="small", filepath="uploads/small.wav", userId="u-1", trackId="t-1")


def combined_steps(stack: Stack, temp: TempArea) -> SmallStemActivities:
    s3 = S3Activities(stack.settings, stack.aws.s3(), temp)
    return SmallStemActivities(s3, AudioActivities(s3, temp, CpuSlots(1, 30.0)),
                               WebhookActivities(stack.settings, webhook_connections(stack.settings)))


def download_and_report(stack: Stack, temp: TempArea) -> DownloadReported:
    request = DownloadAndReportRequest(
        download=DownloadRequest(stem_id=STEM.stemId, key=STEM.filepath, max_size_bytes=100 * MB, local_max_bytes=MB),
        hash_check_for=STEM, hash_check_key="stem-small:run-1:hash-check", post_within_seconds=2.0)
    reported = local_environment().run(combined_steps(stack, temp).download_and_send_hash_check, request)
    assert isinstance(reported, DownloadReported)
    return reported


def analyse_and_report(stack: Stack, temp: TempArea, downloaded: DownloadedObject,
                       started: datetime) -> AnalysisReported:
    analyse = AnalyseRequest(stem_id=STEM.stemId, key=STEM.filepath, downloaded=downloaded,
                             expected_sha256=downloaded.sha256, num_peaks=100, detail_samples_per_pixel=256,
                             max_size_bytes=100 * MB, waveform_key="waveforms/small.json",
                             detail_key="waveforms/small.dat", created_at=started.isoformat(), remove_downloaded=True)
    request = AnalyseAndReportRequest(analyse=analyse, request=STEM, decision=DedupeDecision(
        duplicate=False, filepath=STEM.filepath, upstream_id="up-1"), started=started,
        completion_key="stem-small:run-1:completion", post_within_seconds=2.0)
    reported = local_environment().run(combined_steps(stack, temp).analyse_and_complete, request)
    assert isinstance(reported, AnalysisReported)
    return reported


def success_records(stack: Stack) -> SuccessRecords:
    return SuccessRecords(stack.aws.s3(), stack.settings.s3_bucket_name, stack.settings.s3_success_record_prefix)


def test_the_local_download_sends_the_hash_check_of_what_it_hashed(stack: Stack, tmp_path: Path) -> None:
    audio = encode(sine(0.5))
    stack.put(STEM.filepath, audio)
    reported = download_and_report(stack, TempArea(tmp_path / "temp"))
    sha256 = hashlib.sha256(audio).hexdigest()
    assert reported.hash_check_sent and reported.downloaded.sha256 == sha256
    [hash_check] = stack.standin.accepted(HASH_CHECK)
    assert hash_check.body == hash_check_body(STEM, sha256)
    assert hash_check.headers[IDEMPOTENCY_HEADER] == "stem-small:run-1:hash-check"


def test_a_hash_check_the_server_did_not_take_is_reported_unsent_and_the_download_kept(stack: Stack,
                                                                                        tmp_path: Path) -> None:
    stack.put(STEM.filepath, encode(sine(0.5)))
    stack.standin.fail_next(HASH_CHECK, 503)
    reported = download_and_report(stack, TempArea(tmp_path / "temp"))
    assert not reported.hash_check_sent and reported.hash_check_refusal is None, "a 503 is retried, apart"
    assert Path(reported.downloaded.local_path).is_file()
    assert stack.standin.accepted(HASH_CHECK) == []


def test_the_local_analysis_sends_the_completion_then_records_the_success(stack: Stack, tmp_path: Path) -> None:
    stack.put(STEM.filepath, encode(sine(0.5)))
    temp = TempArea(tmp_path / "temp")
    downloaded = download_and_report(stack, temp).downloaded
    started = datetime.now(UTC)
    reported = analyse_and_report(stack, temp, downloaded, started)
    assert reported.completion_sent and reported.success_recorded
    [completion] = stack.standin.accepted(COMPLETION)
    assert reported.outcome.finished_at is not None
    assert completion.body == completion_payload(STEM, DedupeDecision(duplicate=False, filepath=STEM.filepath,
                                                                      upstream_id="up-1"), "SUCCESS",
                                                 analysis_result(downloaded, reported.outcome), started,
                                                 reported.outcome.finished_at).model_dump(mode="json")
    assert completion.headers[IDEMPOTENCY_HEADER] == "stem-small:run-1:completion"
    assert success_records(stack).succeeded_at(STEM.stemId) is not None
    assert not Path(downloaded.local_path).exists(), "the analysis removed the download"


def test_a_completion_the_server_did_not_take_leaves_the_success_unrecorded(stack: Stack, tmp_path: Path) -> None:
    stack.put(STEM.filepath, encode(sine(0.5)))
    temp = TempArea(tmp_path / "temp")
    downloaded = download_and_report(stack, temp).downloaded
    stack.standin.fail_next(COMPLETION, 500)
    reported = analyse_and_report(stack, temp, downloaded, datetime.now(UTC))
    assert (reported.completion_sent, reported.success_recorded) == (False, False)
    assert success_records(stack).succeeded_at(STEM.stemId) is None
    assert "waveforms/small.json" in stack.object_keys()


def test_a_hash_check_the_server_refused_for_good_is_reported_with_its_refusal(stack: Stack, tmp_path: Path) -> None:
    stack.put(STEM.filepath, encode(sine(0.5)))
    stack.standin.fail_next(HASH_CHECK, 400)
    reported = download_and_report(stack, TempArea(tmp_path / "temp"))
    assert not reported.hash_check_sent
    assert reported.hash_check_refusal is not None
    assert reported.hash_check_refusal.startswith("the server rejected the hash-check webhook with HTTP 400")
