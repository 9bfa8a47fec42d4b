"""Parallel segments give the one-pass result byte for byte, and damaged files still name their damage."""

from __future__ import annotations

import io
import itertools
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.audio_samples import SAMPLE_RATE, encode, encode_with_ffmpeg
from waveflow.audio import analysis as analysis_module
from waveflow.audio.analysis import AudioAnalysis, analyse_file, segment_block_frames, segment_bounds
from waveflow.audio.decode import BLOCK_FRAMES, open_audio, open_segment
from waveflow.audio.formats import AudioFormat
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


def music(frames: int, channels: int, rate: int) -> np.ndarray:
    """Tones that move and noise: what keeps an MP3 encoder's bit reservoir and stereo modes busy."""
    t = np.arange(frames) / rate
    rng = np.random.default_rng(frames)
    left = (0.4 * np.sin(2 * np.pi * 220 * t * (1 + 0.3 * np.sin(t))) + 0.2 * np.sin(2 * np.pi * rate / 7 * t)
            + 0.1 * rng.standard_normal(frames) * (np.sin(3 * t) > 0))
    columns = [left, np.roll(left, 331) * 0.8 + 0.05 * rng.standard_normal(frames)][:channels]
    return np.clip(np.stack(columns, axis=1), -1, 1)


def lame_by_libsndfile(samples: np.ndarray, rate: int, mode: str) -> bytes:
    """libsndfile's LAME front end, which writes a Xing/Info frame with LAME's tag (encoder delay and padding)."""
    return encode(samples, format="MP3", subtype="MPEG_LAYER_III", sample_rate=rate, bitrate_mode=mode,
                  compression_level=0.4)


def lame_by_ffmpeg(samples: np.ndarray, rate: int, bit_rate: int, *, xing: bool) -> bytes:
    """FFmpeg's libmp3lame front end and mp3 muxer, which writes its own Xing/Info frame unless told not to."""
    return encode_with_ffmpeg(samples, container="mp3", codec="libmp3lame", sample_rate=rate, bit_rate=bit_rate,
                              muxer_options={"write_xing": "1" if xing else "0"})


MP3_CORPUS = [
    *(("libsndfile", mode, rate) for mode in ("CONSTANT", "VARIABLE", "AVERAGE") for rate in (32_000, 44_100, 48_000)),
    *(("ffmpeg", bit_rate, rate) for bit_rate in (64_000, 128_000, 320_000) for rate in (32_000, 44_100, 48_000)),
]


def one_pass_samples(path: Path) -> np.ndarray:
    with open_audio(path, AudioFormat.MP3) as decoded:
        return np.concatenate([block.copy() for block in decoded.blocks])


def segment_samples(path: Path, segments: int) -> np.ndarray:
    """The samples each segment analyses, decoded as the segments decode them (from a seek before their start)."""
    with open_audio(path, AudioFormat.MP3) as decoded:
        frames = decoded.info.declared_frames
    parts = []
    for start, length in segment_bounds(frames, segments, SEGMENT_ALIGNMENT):
        opened_at = start - analysis_module.OVERLAP_FRAMES if start else 0
        with open_segment(path, AudioFormat.MP3, opened_at, start + length - opened_at, BLOCK_FRAMES) as decoded:
            parts.append(np.concatenate([block.copy() for block in decoded.blocks])[start - opened_at:])
    return np.concatenate(parts)


@pytest.mark.parametrize(("encoder", "mode", "rate"), MP3_CORPUS,
                         ids=["-".join(map(str, entry)) for entry in MP3_CORPUS])
def test_stereo_mp3_segments_match_one_pass_sample_for_sample(tmp_path: Path, encoder: str, mode: str | int,
                                                              rate: int, one_pass_runs: list[Path]) -> None:
    """CBR, VBR and ABR, joint and plain stereo, the MPEG-1 rates, LAME through two front ends that each write their
    own Xing/Info frame: every sample the segments decode equals the one pass's, and so does the analysis."""
    samples = music(9 * rate + 777, 2, rate)
    path = tmp_path / "x.mp3"
    path.write_bytes(lame_by_libsndfile(samples, rate, str(mode)) if encoder == "libsndfile"
                     else lame_by_ffmpeg(samples, rate, int(mode), xing=True))
    whole = one_pass_samples(path)
    for segments in (2, 3, 5):
        assert np.array_equal(segment_samples(path, segments), whole), f"{segments} segments"
    parallel, parallel_detail, _ = analyse(path, segments=3)
    assert one_pass_runs == [], "the segments' overlaps disagreed: the one pass ran"
    one_pass, one_pass_detail, _ = analyse(path, segments=1)
    assert_identical(one_pass, parallel)
    assert parallel_detail == one_pass_detail


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 1), (48_000, 1), (24_000, 2), (22_050, 2), (16_000, 2),
                                                 (8_000, 2)])
def test_a_mono_mp3_or_one_at_an_mpeg_2_rate_stays_single_pass(tmp_path: Path, rate: int, channels: int,
                                                               one_pass_runs: list[Path]) -> None:
    """mpg123's samples after a seek differ from the one pass's there (see SEGMENTED_MP3_FROM_RATE)."""
    path = tmp_path / "x.mp3"
    path.write_bytes(lame_by_libsndfile(music(9 * rate, channels, rate), rate, "VARIABLE"))
    analyse(path, segments=3)
    assert one_pass_runs == [path]


@pytest.mark.parametrize("bit_rate", [128_000, 320_000])
def test_an_mp3_without_a_xing_frame_gives_the_one_pass_result(tmp_path: Path, bit_rate: int) -> None:
    """Its length is estimated from the bit rate: the segments run when it holds, the one pass when it does not."""
    path = tmp_path / "x.mp3"
    path.write_bytes(lame_by_ffmpeg(music(9 * 44_100 + 777, 2, 44_100), 44_100, bit_rate, xing=False))
    parallel, parallel_detail, _ = analyse(path, segments=3)
    one_pass, one_pass_detail, _ = analyse(path, segments=1)
    assert_identical(one_pass, parallel)
    assert parallel_detail == one_pass_detail


def test_an_mp3_whose_seek_lands_elsewhere_is_analysed_in_one_pass(tmp_path: Path, one_pass_runs: list[Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder whose seek lands one MPEG frame off gives plausible samples of the right length: only the overlap
    check sees it, and the one pass runs."""
    path = tmp_path / "x.mp3"
    path.write_bytes(lame_by_libsndfile(music(9 * 44_100, 2, 44_100), 44_100, "VARIABLE"))
    open_segment = analysis_module.open_segment

    def landing_off(path: Path, audio_format: object, start: int, *arguments: object) -> object:
        return open_segment(path, audio_format, start + (1152 if start else 0), *arguments)

    monkeypatch.setattr(analysis_module, "open_segment", landing_off)
    analyse(path, segments=3)
    assert one_pass_runs == [path]


