"""Integrated loudness against EBU Tech 3341's test signals (cases 1-5, generated here): each within ±0.1 LU."""

from __future__ import annotations

import math

import numpy as np
import pytest

from waveflow.audio.loudness import LoudnessMeter

RATE = 48000


def stereo_sine(parts: list[tuple[float, float]]) -> np.ndarray:
    """1 kHz in both channels, `(dBFS, seconds)` after each other, phase running on."""
    frames = sum(round(seconds * RATE) for _, seconds in parts)
    phase = 2 * np.pi * 1000 * np.arange(frames) / RATE
    amplitude = np.concatenate([np.full(round(seconds * RATE), 10 ** (level / 20)) for level, seconds in parts])
    mono = (amplitude * np.sin(phase)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def measured(samples: np.ndarray, block_frames: int = 4096) -> float:
    meter = LoudnessMeter(samples.shape[1], RATE)
    for start in range(0, len(samples), block_frames):
        meter.add(samples[start:start + block_frames])
    return meter.integrated()


@pytest.mark.parametrize(("case", "parts"), [
    (1, [(-23.0, 20.0)]),
    (2, [(-33.0, 20.0)]),
    (3, [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
    (4, [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)]),
    (5, [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
])
def test_ebu_tech_3341_integrated_loudness_cases(case: int, parts: list[tuple[float, float]]) -> None:
    expected = -33.0 if case == 2 else -23.0
    assert measured(stereo_sine(parts)) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("rate", [22050, 44100, 96000])
def test_other_rates_read_the_same(rate: int) -> None:
    frames = rate * 20
    mono = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * np.arange(frames) / rate)).astype(np.float32)
    meter = LoudnessMeter(2, rate)
    meter.add(np.stack([mono, mono], axis=1))
    assert meter.integrated() == pytest.approx(-23.0, abs=0.1)


def test_mono_and_block_size_do_not_change_the_figure() -> None:
    samples = stereo_sine([(-23.0, 20.0)])
    assert measured(samples, 1000) == pytest.approx(measured(samples, 65536), abs=0.01)
    # BS.1770 sums the channels' power: one channel alone is 3 LU quieter than both.
    assert measured(samples[:, :1]) == pytest.approx(-26.0, abs=0.1)


def test_silence_is_below_the_gate() -> None:
    assert measured(np.zeros((RATE * 5, 2), np.float32)) == -math.inf
    assert measured(stereo_sine([(-80.0, 5.0)])) == -math.inf
