"""Test audio of known content, generated in memory."""

from __future__ import annotations

import io

import numpy as np
import soundfile

SAMPLE_RATE = 44100


def sine(seconds: float, *, amplitude: float = 0.5, frequency: float = 440.0, channels: int = 2,
         sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    frames = round(seconds * sample_rate)
    wave = amplitude * np.sin(2 * np.pi * frequency * np.arange(frames) / sample_rate)
    return np.repeat(wave[:, None], channels, axis=1)


def encode(samples: np.ndarray, *, format: str = "WAV", subtype: str | None = "PCM_16",
           sample_rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=format, subtype=subtype)
    return buffer.getvalue()
