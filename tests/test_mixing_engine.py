"""The streaming mixer on its own: channel and rate mapping, settings, damage, and memory that stays flat."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from tests.audio_samples import encode, encode_with_ffmpeg, sine
from tests.ffmpeg_ebur128 import measured
from waveflow.audio.mix import ChannelMode, MixedAudio, MixOptions, OutputFormat, mix_files
from waveflow.errors import DamagedAudioError, WaveFlowError

STEREO_WAV = MixOptions(sample_rate=None, channel_mode=ChannelMode.STEREO, output_format=OutputFormat.WAV,
                        num_peaks=500, detail_samples_per_pixel=256)


def mix(tmp_path: Path, stems: dict[str, bytes], options: MixOptions = STEREO_WAV) -> tuple[MixedAudio, np.ndarray]:
    paths = []
    for name, data in stems.items():
        (tmp_path / name).write_bytes(data)
        paths.append((name, tmp_path / name))
    output = tmp_path / f"mix.{options.output_format.value}"
    mixed = mix_files(paths, options, float_temp=tmp_path / "mix.f32", output=output, detail_output=io.BytesIO())
    return mixed, soundfile.read(str(output), dtype="int16", always_2d=True)[0].astype(np.int64)


def test_mono_mode_is_the_old_workers_mean_of_channels_and_flac_and_a_fixed_rate_are_settings(tmp_path: Path) -> None:
    left_right = sine(1.0, channels=2, amplitude=0.6)
    left_right[:, 1] = sine(1.0, channels=1, frequency=220.0, amplitude=0.3)[:, 0]
    mono = sine(0.5, channels=1, amplitude=0.4, frequency=330.0, sample_rate=48000)
    options = MixOptions(sample_rate=32000, channel_mode=ChannelMode.MONO, output_format=OutputFormat.FLAC,
                         num_peaks=100, detail_samples_per_pixel=64)

    mixed, samples = mix(tmp_path, {"a.wav": encode(left_right), "b.wav": encode(mono, sample_rate=48000)}, options)

    first = soxr.resample(soundfile.read(io.BytesIO(encode(left_right)), dtype="float32")[0].mean(
        axis=1, dtype=np.float32, keepdims=True), 44100, 32000, quality="HQ")
    second = soxr.resample(soundfile.read(io.BytesIO(encode(mono, sample_rate=48000)), dtype="float32",
                                          always_2d=True)[0], 48000, 32000, quality="HQ")
    expected = first.astype(np.float64)
    expected[:len(second)] += second
    expected = np.rint(expected / 2 * 32767).astype(np.int64)
    assert (mixed.sample_rate, mixed.channels, mixed.frames) == (32000, 1, 32000)
    assert soundfile.info(str(tmp_path / "mix.flac")).format == "FLAC"
    assert np.abs(samples - expected).max() <= 1 and mixed.gain == 1.0
    assert len(mixed.peaks) == 100


def test_mono_stems_make_a_mono_mix_and_multichannel_folds_onto_both_sides(tmp_path: Path) -> None:
    mono_only, _ = mix(tmp_path, {"a.wav": encode(sine(0.3, channels=1)), "b.wav": encode(sine(0.2, channels=1))})
    assert mono_only.channels == 1

    six = np.random.default_rng(3).uniform(-0.5, 0.5, (4410, 6))
    mixed, samples = mix(tmp_path, {"six.wav": encode(six), "stereo.wav": encode(sine(0.1, channels=2))})
    folded = soundfile.read(io.BytesIO(encode(six)), dtype="float32")[0].mean(axis=1, dtype=np.float32)
    stereo = soundfile.read(io.BytesIO(encode(sine(0.1, channels=2))), dtype="float32")[0]
    expected = np.rint((stereo + folded[:, None]).astype(np.float64) / 2 * 32767)
    assert mixed.channels == 2 and np.abs(samples - expected).max() <= 1


def test_lossy_containers_through_ffmpeg_mix_too(tmp_path: Path) -> None:
    m4a = encode_with_ffmpeg(sine(1.0, channels=2, amplitude=0.3), container="mp4", codec="aac")
    mixed, samples = mix(tmp_path, {"a.m4a": m4a, "b.wav": encode(sine(1.0, channels=1, sample_rate=16000),
                                                                   sample_rate=16000)})
    assert mixed.sample_rate == 44100 and mixed.channels == 2 and mixed.frames >= 44100
    assert [audio_format.value for audio_format in mixed.stem_formats] == ["MP4/M4A", "WAV"]
    assert samples.shape == (mixed.frames, 2)


def test_a_stem_cut_short_is_named_and_the_error_is_the_engines(tmp_path: Path) -> None:
    flac = encode(sine(2.0), format="FLAC")
    with pytest.raises(WaveFlowError) as failed:
        mix(tmp_path, {"good.wav": encode(sine(1.0)), "cut.flac": flac[:len(flac) // 2]})
    assert failed.value.code == DamagedAudioError.code
    assert failed.value.message.startswith("stem cut.flac: ") and "FLAC stream" in failed.value.message


def peak_traced_bytes(tmp_path: Path, stems: int, seconds: float) -> int:
    directory = tmp_path / f"{stems}x{seconds}"
    directory.mkdir()
    paths = []
    for index in range(stems):
        path = directory / f"s{index}.{'wav' if index % 2 else 'flac'}"
        rate = 44100 if index % 3 else 48000
        with soundfile.SoundFile(str(path), "w", rate, 2, "PCM_16", format="WAV" if index % 2 else "FLAC") as output:
            block = sine(1.0, channels=2, sample_rate=rate, frequency=110.0 * (index + 1), amplitude=0.5)
            for _ in range(int(seconds)):
                output.write(block)
        paths.append((path.name, path))
    tracemalloc.start()
    try:
        mix_files(paths, STEREO_WAV, float_temp=directory / "mix.f32", output=directory / "mix.wav",
                  detail_output=io.BytesIO())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_length_of_the_stems(tmp_path: Path) -> None:
    short, long = peak_traced_bytes(tmp_path, 4, 30), peak_traced_bytes(tmp_path, 4, 120)
    assert long < short * 1.15 and long < 16 * 1024 * 1024
    assert peak_traced_bytes(tmp_path, 8, 10) < 24 * 1024 * 1024


def test_the_mix_insights_read_as_ffmpeg_reads_the_written_mix(tmp_path: Path) -> None:
    """Loud enough for the gain rule to scale it: the figures describe the written file, not the unscaled sum."""
    stems = {"drums.wav": encode(sine(6.0, amplitude=0.99, frequency=110.0)),
             "bass.wav": encode(sine(6.0, amplitude=0.98, frequency=110.0))}
    mixed, _ = mix(tmp_path, stems)
    written, rate = soundfile.read(str(tmp_path / "mix.wav"), dtype="float32", always_2d=True)
    reference = measured(written, rate)
    assert mixed.gain < 1.0 and mixed.insights.integrated_lufs == mixed.loudness_lufs
    assert mixed.loudness_lufs == pytest.approx(reference.integrated_lufs, abs=0.1)
    assert mixed.insights.true_peak_dbtp == pytest.approx(reference.true_peak_dbtp, abs=0.2)
