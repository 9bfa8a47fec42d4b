"""Parallel segments give the one-pass result byte for byte, and damaged files still name their damage."""

from __future__ import annotations

import io
import itertools
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.audio_samples import SAMPLE_RATE, encode
from waveflow.audio import analysis as analysis_module
from waveflow.audio.analysis import AudioAnalysis, analyse_file, segment_block_frames, segment_bounds
from waveflow.errors import DamagedAudioError

DETAIL_SPP = 256
SEGMENT_ALIGNMENT = math.lcm(DETAIL_SPP, 1152)


def analyse(path: Path, segments: int, num_peaks: int = 300) -> tuple[AudioAnalysis, bytes, list[int]]:
    detail = io.BytesIO()
    reported: list[int] = []
    result = analyse_file(path, num_peaks=num_peaks, detail_samples_per_pixel=DETAIL_SPP, detail_output=detail,
                          progress=lambda frames, _rate: reported.append(frames), segments=segments)
    return result, detail.getvalue(), reported


def assert_identical(one_pass: AudioAnalysis, parallel: AudioAnalysis) -> None:
    assert parallel.peaks == one_pass.peaks
    assert parallel.frames == one_pass.frames
    assert parallel.samples_per_pixel == one_pass.samples_per_pixel
    assert parallel.pixel_min.dtype == one_pass.pixel_min.dtype
    assert parallel.pixel_min.tobytes() == one_pass.pixel_min.tobytes()
    assert parallel.pixel_max.tobytes() == one_pass.pixel_max.tobytes()
    assert parallel.detail_length == one_pass.detail_length


@pytest.fixture
def one_pass_runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the one-pass analysis was run on, to tell the parallel result from a fallback."""
    runs: list[Path] = []
    one_pass = analysis_module._analyse_in_one_pass

    def counted(path: Path, *arguments: object) -> AudioAnalysis:
        runs.append(path)
        return one_pass(path, *arguments)

    monkeypatch.setattr(analysis_module, "_analyse_in_one_pass", counted)
    return runs


def noise(frames: int, channels: int, seed: int = 3) -> np.ndarray:
    """Loud enough that every pixel and bucket has its own extremes, so a misplaced frame shows."""
    return np.random.default_rng(seed).uniform(-0.95, 0.95, (frames, channels))


FORMATS = [("wav", "WAV", "PCM_16"), ("wav", "WAV", "PCM_24"), ("wav", "WAV", "FLOAT"), ("aiff", "AIFF", "PCM_16"),
           ("flac", "FLAC", "PCM_16")]


@pytest.mark.parametrize(("extension", "container", "subtype"), FORMATS)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_segments_match_one_pass_byte_for_byte(tmp_path: Path, extension: str, container: str, subtype: str,
                                               channels: int, one_pass_runs: list[Path]) -> None:
    frames = 2 * 65_664 + 12_345  # spans blocks, a multiple of nothing
    path = tmp_path / f"x.{extension}"
    path.write_bytes(encode(noise(frames, channels), format=container, subtype=subtype))

    one_pass, one_pass_detail, _ = analyse(path, segments=1)
    for segments in (2, 3, 7):
        parallel, parallel_detail, reported = analyse(path, segments=segments)
        assert_identical(one_pass, parallel)
        assert parallel_detail == one_pass_detail
        assert reported[-1] == frames
    assert one_pass_runs == [path]


@pytest.mark.parametrize(("extension", "container"), [("wav", "WAV"), ("flac", "FLAC")])
def test_segments_longer_than_their_blocks(tmp_path: Path, extension: str, container: str,
                                           one_pass_runs: list[Path]) -> None:
    """Each segment reads several blocks, so pixels and buckets also span blocks inside a segment."""
    frames = 2 * 2 * segment_block_frames(2, 2) + 999
    path = tmp_path / f"long.{extension}"
    path.write_bytes(encode(noise(frames, 2), format=container, subtype="PCM_16"))

    one_pass, one_pass_detail, _ = analyse(path, segments=1, num_peaks=1000)
    parallel, parallel_detail, _ = analyse(path, segments=2, num_peaks=1000)
    assert_identical(one_pass, parallel)
    assert parallel_detail == one_pass_detail
    assert one_pass_runs == [path]


@pytest.mark.parametrize("frames", [1, 2, 257, 1_000, 4_608, 4_609, 10_001, 65_664 * 2 + 1])
@pytest.mark.parametrize("num_peaks", [7, 300, 5_000])
def test_odd_and_very_short_lengths(tmp_path: Path, frames: int, num_peaks: int, one_pass_runs: list[Path]) -> None:
    """Fewer frames than segments or than peaks: the buckets at segment edges are merged, empty ones stay 0."""
    path = tmp_path / "short.wav"
    path.write_bytes(encode(noise(frames, 2, seed=frames), subtype="PCM_16"))

    one_pass, one_pass_detail, _ = analyse(path, segments=1, num_peaks=num_peaks)
    for segments in (2, 5, 16):
        parallel, parallel_detail, _ = analyse(path, segments=segments, num_peaks=num_peaks)
        assert_identical(one_pass, parallel)
        assert parallel_detail == one_pass_detail
    too_short_for_two_segments = frames <= SEGMENT_ALIGNMENT
    assert len(one_pass_runs) == (4 if too_short_for_two_segments else 1)


def test_segments_start_on_detail_pixels_and_cover_the_file() -> None:
    for frames, segments in [(1, 4), (255, 2), (256, 2), (1_000_003, 3), (158_760_000, 2)]:
        bounds = segment_bounds(frames, segments, SEGMENT_ALIGNMENT)
        assert len(bounds) <= segments
        assert all(start % DETAIL_SPP == 0 and start % 1152 == 0 for start, _ in bounds)
        assert bounds[0][0] == 0 and sum(length for _, length in bounds) == frames
        assert all(start + length == following for (start, length), (following, _) in itertools.pairwise(bounds))


def _wav_with_data_size(samples: np.ndarray, data_size: int) -> bytes:
    data = bytearray(encode(samples, subtype="PCM_16"))
    offset = data.index(b"data") + 4
    data[offset:offset + 4] = struct.pack("<I", data_size)
    return bytes(data)


def test_truncated_wav_names_its_damage(tmp_path: Path) -> None:
    whole = encode(noise(SAMPLE_RATE, 2), subtype="PCM_16")
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[:len(whole) // 2])

    with pytest.raises(DamagedAudioError, match="truncated WAV"):
        analyse(path, segments=4)


def test_streamed_wav_with_a_placeholder_size_matches_one_pass(tmp_path: Path, one_pass_runs: list[Path]) -> None:
    """A recorder that never rewrote its header: libsndfile takes the length from the file size."""
    path = tmp_path / "streamed.wav"
    path.write_bytes(_wav_with_data_size(noise(10_000, 2), 0xFFFFFFFF))

    one_pass, one_pass_detail, _ = analyse(path, segments=1)
    parallel, parallel_detail, _ = analyse(path, segments=3)
    assert_identical(one_pass, parallel)
    assert parallel_detail == one_pass_detail
    assert len(one_pass_runs) == 1


def test_truncated_flac_names_the_same_damage_as_one_pass(tmp_path: Path) -> None:
    whole = encode(noise(3 * SAMPLE_RATE, 2) * 0.5, format="FLAC", subtype="PCM_16")
    path = tmp_path / "cut.flac"
    path.write_bytes(whole[:len(whole) // 2])

    with pytest.raises(DamagedAudioError) as one_pass:
        analyse(path, segments=1)
    with pytest.raises(DamagedAudioError) as parallel:
        analyse(path, segments=4)
    assert parallel.value.message == one_pass.value.message


def test_mp3_stays_single_pass(tmp_path: Path, one_pass_runs: list[Path]) -> None:
    """Lossy seeks are exact only by the decoder's behaviour: an MP3 is analysed in one pass whatever is asked."""
    path = tmp_path / "x.mp3"
    path.write_bytes(encode(noise(3 * SAMPLE_RATE + 777, 2) * 0.5, format="MP3", subtype=None))
    analyse(path, segments=4)
    assert one_pass_runs == [path]
