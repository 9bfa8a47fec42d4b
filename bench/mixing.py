"""Mixdown speed and memory against the old worker's way (whole files in memory), measured in the same run.

Generates 8 stems of 10 minutes of 44.1 kHz stereo (half WAV, half FLAC, all at one rate so the old way mixes
every one of them), then runs each mix in a fresh process and prints wall time, peak RSS (VmHWM) and the ratio.

    .venv/bin/python bench/mixing.py [--stems 8] [--minutes 10]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analysis import peak_rss_mb  # noqa: E402 - after the path is set
from waveflow.audio.mix import ChannelMode, MixOptions, OutputFormat, mix_files  # noqa: E402

SAMPLE_RATE = 44100
NUM_PEAKS = 4000


def generate(path: Path, minutes: int, index: int) -> None:
    """A minute of a tone pair with some noise, written `minutes` times, in bounded memory."""
    rng = np.random.default_rng(index)
    seconds = np.arange(60 * SAMPLE_RATE) / SAMPLE_RATE
    left = 0.3 * np.sin(2 * np.pi * 110 * (index + 1) * seconds) + 0.05 * rng.standard_normal(len(seconds))
    right = 0.3 * np.sin(2 * np.pi * 165 * (index + 1) * seconds) + 0.05 * rng.standard_normal(len(seconds))
    minute = np.stack([left, right], axis=1).astype(np.float32)
    container = "FLAC" if index % 2 else "WAV"
    with soundfile.SoundFile(str(path), "w", SAMPLE_RATE, 2, "PCM_16", format=container) as output:
        for _ in range(minutes):
            output.write(minute)


def old_way(stems: list[Path], output: Path) -> dict[str, float]:
    """The old worker: each stem whole as mono float, zero-padded, summed, ÷ count, down to a 0.95 peak, written
    as WAV, then a 4,000-peak waveform from the whole mix in a Python loop."""
    mono = []
    for path in stems:
        samples, sample_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
        mono.append(samples.mean(axis=1))
        del samples
    mix = np.zeros(max(len(samples) for samples in mono))
    for samples in mono:
        mix[:len(samples)] += samples
    mix /= len(mono)
    peak = float(np.abs(mix).max())
    if peak > 0.95:
        mix *= 0.95 / peak
    soundfile.write(str(output), mix, sample_rate)
    per_bucket = len(mix) // NUM_PEAKS
    peaks = [float(np.max(np.abs(mix[index * per_bucket:(index + 1) * per_bucket]))) for index in range(NUM_PEAKS)]
    return {"duration": len(mix) / sample_rate, "peak": round(max(peaks), 4)}


def streaming(stems: list[Path], output: Path, mode: ChannelMode) -> dict[str, float]:
    options = MixOptions(sample_rate=None, channel_mode=mode, output_format=OutputFormat.WAV, num_peaks=NUM_PEAKS,
                         detail_samples_per_pixel=256)
    mixed = mix_files([(path.name, path) for path in stems], options, float_temp=output.with_suffix(".f32"),
                      output=output, detail_output=io.BytesIO())
    output.with_suffix(".f32").unlink()
    return {"duration": mixed.duration, "peak": mixed.peak, "lufs": mixed.loudness_lufs or 0.0}


def run_one(kind: str, directory: str) -> None:
    """Child process: one mix, then its wall time and peak RSS as JSON."""
    stems = sorted(path for path in Path(directory).iterdir() if path.name.startswith("stem-"))
    output = Path(directory) / f"out-{kind}.wav"
    started = time.perf_counter()
    outcome = old_way(stems, output) if kind == "old" else streaming(stems, output, ChannelMode(kind))
    elapsed = time.perf_counter() - started
    output.unlink()
    print(json.dumps({"seconds": elapsed, "rss_mb": peak_rss_mb(), **outcome}))


def measure(kind: str, directory: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", kind, str(directory)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=8)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "DIRECTORY"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_one(*arguments.child)
        return
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for index in range(arguments.stems):
            generate(directory / f"stem-{index}.{'flac' if index % 2 else 'wav'}", arguments.minutes, index)
        old = measure("old", directory)
        print(f"{arguments.stems} stems x {arguments.minutes} min, 44.1 kHz stereo (half WAV, half FLAC)")
        print(f"{'mix':<34}{'s':>8}{'speed-up':>10}{'peak RSS MB':>13}")
        print(f"{'old worker (whole files, mono)':<34}{old['seconds']:>8.2f}{'':>10}{old['rss_mb']:>13.0f}")
        for mode, label in ((ChannelMode.STEREO, "WaveFlow stereo (default)"), (ChannelMode.MONO, "WaveFlow mono")):
            ours = measure(mode.value, directory)
            print(f"{label:<34}{ours['seconds']:>8.2f}{old['seconds'] / ours['seconds']:>9.1f}x"
                  f"{ours['rss_mb']:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
