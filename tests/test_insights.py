"""Stem insights against answers known in advance: EBU Tech 3341's loudness signals (generated here), sines whose
true peak falls between samples, constructed clips, silences and offsets; and against FFmpeg's `ebur128` filter on
real encoded files, read through the same analysis that draws the waveform."""

from __future__ import annotations

import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.audio_samples import encode
from tests.ffmpeg_ebur128 import measured
from waveflow.audio.analysis import analyse_file
from waveflow.audio.insights import TRUE_PEAK_PHASES, InsightMeter, MeterBeside, insights_of
from waveflow.contract import AudioInsights

RATE = 48000
LOUDNESS_TOLERANCE_LU = 0.1
TRUE_PEAK_TOLERANCE_DB = 0.2


def tone(parts: list[tuple[float, float]], *, rate: int = RATE, frequency: float = 1000.0) -> np.ndarray:
    """Stereo, the same in both channels: `(dBFS, seconds)` after each other, phase running on."""
    amplitude = np.concatenate([np.full(round(seconds * rate), 10 ** (level / 20)) for level, seconds in parts])
    mono = (amplitude * np.sin(2 * np.pi * frequency * np.arange(len(amplitude)) / rate)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def insights(samples: np.ndarray, *, rate: int = RATE, block_frames: int = 4096,
             splits: tuple[int, ...] = ()) -> AudioInsights:
    """One meter per part (as parallel segments have), each fed in blocks."""
    bounds = [0, *splits, len(samples)]
    meters = []
    for start, end in itertools.pairwise(bounds):
        meter = InsightMeter(samples.shape[1], rate, start=start)
        for first in range(start, end, block_frames):
            meter.add(samples[first:min(first + block_frames, end)])
        meters.append(meter)
    return insights_of([meter.part for meter in meters])


@pytest.mark.parametrize(("case", "parts", "expected"), [
    (1, [(-23.0, 20.0)], -23.0),
    (2, [(-33.0, 20.0)], -33.0),
    (3, [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    (4, [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    (5, [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
])
def test_ebu_tech_3341_integrated_loudness_cases(case: int, parts: list[tuple[float, float]], expected: float) -> None:
    assert insights(tone(parts)).integrated_lufs == pytest.approx(expected, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize("rate", [11025, 22050, 44100, 96000])
def test_other_rates_read_the_same(rate: int) -> None:
    """11025 Hz has 100 ms sub-blocks of 1102.5 frames: their bounds alternate."""
    assert insights(tone([(-23.0, 20.0)], rate=rate), rate=rate).integrated_lufs == pytest.approx(
        -23.0, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize("rate", [1000, 3000])
def test_below_8_khz_the_loudness_is_left_out_and_the_rest_measured(rate: int) -> None:
    """BS.1770's shelf is past such a rate's Nyquist frequency: its filter would diverge (and overflow)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measured_here = insights(tone([(-23.0, 20.0)], rate=rate, frequency=rate / 8), rate=rate)
    assert measured_here.integrated_lufs is None
    assert measured_here.sample_peak_dbfs is not None and not measured_here.silent


def test_one_channel_is_three_lu_quieter_than_two_and_blocks_do_not_matter() -> None:
    samples = tone([(-23.0, 20.0)])
    assert insights(samples[:, :1]).integrated_lufs == pytest.approx(-26.0, abs=LOUDNESS_TOLERANCE_LU)
    assert insights(samples, block_frames=1000) == insights(samples, block_frames=65536)


def test_segments_give_the_figures_of_one_pass() -> None:
    rng = np.random.default_rng(7)
    samples = (rng.standard_normal((RATE * 30, 2)) * 0.3).astype(np.float32)
    samples[RATE * 10 - 3:RATE * 10 + 4] = 1.0  # a clipped run across the first split
    one_pass, parts = insights(samples), insights(samples, splits=(RATE * 10, RATE * 17 + 333))
    assert parts.integrated_lufs == pytest.approx(one_pass.integrated_lufs, abs=0.01)
    assert parts.model_dump(exclude={"integrated_lufs"}) == one_pass.model_dump(exclude={"integrated_lufs"})


@pytest.mark.parametrize("frequency", [RATE / 4, 997.0, 7001.0])
def test_a_peak_between_samples_is_found(frequency: float) -> None:
    """At a quarter of the rate, started at 45°, every sample misses the crest by 3 dB; the true peak does not."""
    frames = np.arange(RATE * 2)
    mono = (0.5 * np.sin(2 * np.pi * frequency * frames / RATE + np.pi / 4)).astype(np.float32)
    measured_insights = insights(np.stack([mono, mono], axis=1))
    assert measured_insights.true_peak_dbtp == pytest.approx(-6.02, abs=TRUE_PEAK_TOLERANCE_DB)
    if frequency == RATE / 4:
        assert measured_insights.sample_peak_dbfs == pytest.approx(-9.03, abs=0.01)


def test_clipped_runs_are_counted_and_placed() -> None:
    samples = tone([(3.0, 1.0)], frequency=50.0)  # 50 Hz at +3 dBFS: two flat tops per cycle and channel
    np.clip(samples, -1.0, 1.0, out=samples)
    measured_insights = insights(samples, splits=(RATE // 2 + 7,))
    at_full_scale = int(np.count_nonzero(np.abs(samples) >= 32767 / 32768))
    assert measured_insights.clipped_samples == at_full_scale
    assert measured_insights.clipped_runs == 2 * 50 * 2
    first_crest = (1 / 50) / 4
    assert measured_insights.first_clips_seconds[0] < first_crest < measured_insights.first_clips_seconds[1]
    assert len(measured_insights.first_clips_seconds) == 5
    assert insights(tone([(-1.0, 1.0)])).clipped_samples == 0


def test_int16_blocks_at_full_scale_are_clipped() -> None:
    block = np.array([[0, 0], [32767, -32768], [32767, 0], [100, -32768]], dtype=np.int16)
    meter = InsightMeter(2, RATE)
    meter.add(block)
    measured_insights = insights_of([meter.part])
    assert (measured_insights.clipped_samples, measured_insights.clipped_runs) == (4, 3)


def test_silence_at_the_edges_and_a_silent_stem() -> None:
    samples = np.concatenate([np.zeros((RATE * 3 // 2, 2), np.float32), tone([(-20.0, 2.0)]),
                              np.full((RATE * 3 // 4, 2), 10 ** (-70 / 20), np.float32)])
    measured_insights = insights(samples, splits=(RATE, RATE * 3))
    assert measured_insights.leading_silence_seconds == pytest.approx(1.5, abs=2 / RATE)
    assert measured_insights.trailing_silence_seconds == pytest.approx(0.75, abs=2 / RATE)
    assert not measured_insights.silent
    muted = insights(np.zeros((RATE * 5, 2), np.float32))
    assert muted.silent and muted.integrated_lufs is None and muted.true_peak_dbtp is None
    assert muted.leading_silence_seconds == 5.0 and muted.trailing_silence_seconds == 0.0
    hum = insights(tone([(-65.0, 5.0)]))
    assert hum.silent and hum.integrated_lufs is not None


def test_dc_offset_per_channel() -> None:
    samples = tone([(-20.0, 2.0)])
    samples[:, 0] += 0.1
    samples[:, 1] -= 0.02
    assert insights(samples).dc_offset == pytest.approx([0.1, -0.02], abs=1e-4)


def music_like(seconds: float, rate: int = 44100) -> np.ndarray:
    """Noise shaped by a slow envelope over a few tones: loudness that moves, peaks of every height."""
    rng = np.random.default_rng(11)
    time_axis = np.arange(round(seconds * rate)) / rate
    envelope = 0.35 + 0.3 * np.sin(2 * np.pi * 0.2 * time_axis) ** 2
    tones = sum(np.sin(2 * np.pi * frequency * time_axis) / (index + 1)
                for index, frequency in enumerate((110.0, 220.0, 1250.0, 5100.0)))
    mono = envelope * (0.4 * tones / 2.1 + 0.15 * rng.standard_normal(len(time_axis)))
    return np.stack([mono, 0.8 * mono[::-1]], axis=1).astype(np.float32)


@pytest.mark.parametrize(("container", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24"), ("MP3", None)])
def test_real_files_read_as_ffmpeg_reads_them(tmp_path: Path, container: str, subtype: str | None) -> None:
    path = tmp_path / f"stem.{container.lower()}"
    path.write_bytes(encode(music_like(40.0), format=container, subtype=subtype))
    decoded, rate = soundfile.read(str(path), dtype="float32")
    reference = measured(decoded, rate)
    analysed = analyse_file(path, num_peaks=100, detail_samples_per_pixel=256, detail_output=io.BytesIO(),
                            segments=2).insights
    assert analysed.integrated_lufs == pytest.approx(reference.integrated_lufs, abs=LOUDNESS_TOLERANCE_LU)
    assert analysed.true_peak_dbtp == pytest.approx(reference.true_peak_dbtp, abs=TRUE_PEAK_TOLERANCE_DB)


def test_a_meter_beside_the_decoder_sees_each_block_as_it_was() -> None:
    """Decoders read every block into the same buffer: the meter on its own thread must measure what was handed."""
    samples = tone([(-20.0, 3.0), (-3.0, 2.0)])
    buffer = np.empty((4096, 2), np.float32)
    with MeterBeside(InsightMeter(2, RATE)) as beside:
        for first in range(0, len(samples), 4096):
            block = samples[first:first + 4096]
            buffer[:len(block)] = block
            beside.add(buffer[:len(block)])
        measured_beside = insights_of([beside.part()])
    assert measured_beside == insights(samples)


def test_what_falls_on_a_segment_boundary_counts_as_in_one_pass() -> None:
    """An inter-sample peak whose window straddles the split, and a clip one channel continues while the other
    starts one right at it."""
    boundary = RATE // 2
    mono = np.zeros((RATE, 1), np.float32)
    mono[boundary:boundary + 2, 0] = [0.9, -0.9]
    assert insights(mono, splits=(boundary,)).true_peak_dbtp == insights(mono).true_peak_dbtp
    stereo = np.zeros((RATE, 2), np.float32)
    stereo[boundary - 1:boundary + 1, 0] = 1.0
    stereo[boundary, 1] = 1.0
    one_pass, split = insights(stereo), insights(stereo, splits=(boundary,))
    assert split.first_clips_seconds == one_pass.first_clips_seconds == [0.5, 0.5]
    assert split.clipped_runs == one_pass.clipped_runs == 2


@pytest.mark.parametrize("channels", [3, 8, 9, 16])
def test_many_channels_are_measured(tmp_path: Path, channels: int) -> None:
    """Each channel counts 1.0 beyond 5.1: a tone in every one of n channels is 10·log10(n/2) LU above stereo."""
    path = tmp_path / f"{channels}.wav"
    mono = tone([(-23.0, 3.0)], rate=44100)[:, :1]
    path.write_bytes(encode(np.repeat(mono, channels, axis=1)))
    for segments in (1, 2):
        analysed = analyse_file(path, num_peaks=100, detail_samples_per_pixel=256, detail_output=io.BytesIO(),
                                segments=segments).insights
        assert analysed is not None and len(analysed.dc_offset) == channels
        assert analysed.integrated_lufs == pytest.approx(-23.0 + 10 * np.log10(channels / 2), abs=0.1)


@pytest.mark.parametrize(("block_frames", "splits"), [(1, ()), (7, (500,)), (11, (3001,)), (12, (11, 4000)),
                                                      (4096, (2222, 2230)), (65536, ())])
def test_the_true_peak_is_every_window_interpolated_however_the_stream_is_cut(
        block_frames: int, splits: tuple[int, ...]) -> None:
    """Against the filter applied to the whole stream at once (after silence), with numpy's convolve."""
    rng = np.random.default_rng(block_frames)
    samples = (rng.standard_normal((6000, 2)) * 0.2).astype(np.float32)
    samples[2225:2227] = [[0.9, -0.7], [-0.9, 0.7]]
    whole = np.concatenate([np.zeros((11, 2), np.float32), samples])
    expected = max(float(np.abs(np.convolve(whole[:, channel], taps, "valid")).max())
                   for channel in range(2) for taps in TRUE_PEAK_PHASES)
    measured_insights = insights(samples, block_frames=block_frames, splits=splits)
    assert measured_insights.true_peak_dbtp == round(20 * np.log10(expected), 2)
