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
           sample_rate: int = SAMPLE_RATE, **options: object) -> bytes:
    """Through libsndfile; `options` as `soundfile.write` takes them (an MP3's `bitrate_mode`, ...)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=format, subtype=subtype, **options)
    return buffer.getvalue()


def encode_with_ffmpeg(samples: np.ndarray, *, container: str, codec: str, sample_rate: int = SAMPLE_RATE,
                       bit_rate: int | None = None, muxer_options: dict[str, str] | None = None) -> bytes:
    """Encode through PyAV's bundled FFmpeg: M4A/AAC, M4A/ALAC, WebM/Opus, as phones and browsers record; MP3 by
    libmp3lame."""
    import av

    buffer = io.BytesIO()
    channels = samples.shape[1]
    with av.open(buffer, mode="w", format=container, options=muxer_options or {}) as output:
        stream = output.add_stream(codec, rate=sample_rate, layout="stereo" if channels == 2 else "mono")
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        sample_format = "s16p" if codec == "alac" else "fltp"
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start:start + frame_size].T
            planar = (chunk * 32767).astype(np.int16) if sample_format == "s16p" else chunk.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar), format=sample_format,
                                               layout=stream.layout.name)
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()
