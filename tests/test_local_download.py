"""The local download: a small object fetched in the workflow task; anything else left to the download activity."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.heartbeats import BEAT_EVERY_SECONDS, ProgressBeat, heartbeat_while
from activities.s3 import S3Activities
from tests.audio_samples import encode, sine
from tests.conftest import Stack
from waveflow.models import DownloadRequest
from waveflow.tempfiles import TempArea

MB = 1024 * 1024


def local_environment() -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, is_local=True, started_time=datetime.now(UTC),
                                           start_to_close_timeout=timedelta(seconds=20))
    return environment


def download(stack: Stack, temp: TempArea, key: str, local_max_bytes: int) -> object:
    activities = S3Activities(stack.settings, stack.aws.s3(), temp)
    request = DownloadRequest(stem_id="small", key=key, max_size_bytes=100 * MB, local_max_bytes=local_max_bytes)
    return local_environment().run(activities.download_small_and_hash, request)


def test_a_small_object_is_downloaded_and_hashed_here(stack: Stack, tmp_path: Path) -> None:
    audio = encode(sine(0.5))
    stack.put("uploads/small.wav", audio)
    downloaded = download(stack, TempArea(tmp_path / "temp"), "uploads/small.wav", MB)
    assert downloaded is not None
    assert downloaded.sha256 == hashlib.sha256(audio).hexdigest()  # type: ignore[attr-defined]
    assert Path(downloaded.local_path).read_bytes() == audio  # type: ignore[attr-defined]


def test_a_larger_object_is_left_to_the_activity_with_nothing_written(stack: Stack, tmp_path: Path) -> None:
    audio = encode(sine(0.5))
    stack.put("uploads/larger.wav", audio)
    temp = TempArea(tmp_path / "temp")
    assert download(stack, temp, "uploads/larger.wav", len(audio) - 1) is None
    assert temp.stem_ids() == set()


def test_a_missing_object_is_left_to_the_activity_whose_get_names_it(stack: Stack, tmp_path: Path) -> None:
    temp = TempArea(tmp_path / "temp")
    assert download(stack, temp, "uploads/absent.wav", MB) is None
    assert temp.stem_ids() == set()


def test_an_object_over_the_size_limit_is_refused_before_its_body_is_read(stack: Stack, tmp_path: Path) -> None:
    audio = encode(sine(0.5))
    stack.put("uploads/over.wav", audio)
    temp = TempArea(tmp_path / "temp")
    request = DownloadRequest(stem_id="over", key="uploads/over.wav", max_size_bytes=len(audio) - 1,
                              local_max_bytes=MB)
    with pytest.raises(ApplicationError) as raised:
        local_environment().run(S3Activities(stack.settings, stack.aws.s3(), temp).download_small_and_hash, request)
    assert raised.value.type == "file_too_large" and raised.value.non_retryable
    assert temp.stem_ids() == set()


def test_an_object_the_temp_budget_has_no_room_for_now_is_left_to_the_activity_at_once(stack: Stack,
                                                                                        tmp_path: Path) -> None:
    audio = encode(sine(0.5))
    stack.put("uploads/crowded.wav", audio)
    temp = TempArea(tmp_path / "temp", MB, admission_wait_seconds=60)
    with temp.reserve("another-stem", MB - len(audio) // 2, [], "another download"):
        started = time.monotonic()
        assert download(stack, temp, "uploads/crowded.wav", MB) is None
        assert time.monotonic() - started < 1, "a workflow task does not wait for temp disk"
    assert temp.stem_ids() == set()


def test_a_local_download_that_ends_after_its_deadline_leaves_no_file(stack: Stack, tmp_path: Path) -> None:
    """Its workflow has gone on to the download activity (the chaos run's `s3_slow` found the file it left)."""
    stack.put("uploads/late.wav", encode(sine(0.5)))
    temp = TempArea(tmp_path / "temp")
    environment = local_environment()
    environment.info = dataclasses.replace(environment.info, started_time=datetime.now(UTC) - timedelta(seconds=20))
    request = DownloadRequest(stem_id="late", key="uploads/late.wav", max_size_bytes=100 * MB, local_max_bytes=MB)
    with pytest.raises(RuntimeError, match="after its deadline"):
        environment.run(S3Activities(stack.settings, stack.aws.s3(), temp).download_small_and_hash, request)
    assert temp.stem_ids() == set()


@pytest.mark.parametrize("local", [True, False], ids=["local", "regular"])
def test_only_a_regular_activity_heartbeats(local: bool) -> None:
    """A local activity has no heartbeat: the timeout of its workflow task watches it."""
    environment = local_environment() if local else ActivityEnvironment()
    beats: list[object] = []
    environment.on_heartbeat = lambda *details: beats.append(details)

    def step() -> None:
        ProgressBeat(every=0.0)({"bytes_downloaded": 1})
        with heartbeat_while({"phase": "get"}):
            time.sleep(BEAT_EVERY_SECONDS + 0.3)

    environment.run(step)
    assert (beats == []) is local
