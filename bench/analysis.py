"""Analysis speed and memory against the old worker's naive approach, measured in the same run.

Generates 10- and 60-minute 44.1 kHz stereo test audio (WAV, FLAC, MP3) in a temp directory, then runs each
analysis in a fresh process and prints wall time, peak RSS and the ratio. Also compares the download stream's
hashing with plain `hashlib.sha256` over the same bytes.

    .venv/bin/python bench/analysis.py [--minutes 10 60] [--formats WAV FLAC MP3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from waveflow.audio.analysis import analyse_file  # noqa: E402 - after the path is set
from waveflow.hashing import copy_and_hash  # noqa: E402

SAMPLE_RATE = 44100
NUM_PEAKS = 1024
SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": None}


def generate(path: Path, minutes: int, container: str) -> None:
    """A minute of a two-tone signal with some noise, written `minutes` times, in bounded memory."""
    rng = np.random.default_rng(1)
    time_axis = np.arange(60 * SAMPLE_RATE) / SAMPLE_RATE
    left = 0.4 * np.sin(2 * np.pi * 220 * time_axis) + 0.05 * rng.standard_normal(len(time_axis))
    right = 0.3 * np.sin(2 * np.pi * 330 * time_axis) + 0.05 * rng.standard_normal(len(time_axis))
    minute = np.stack([left, right], axis=1).astype(np.float32)
    with soundfile.SoundFile(str(path), "w", SAMPLE_RATE, 2, SUBTYPES[container], format=container) as output:
        for _ in range(minutes):
            output.write(minute)


def naive(path: Path) -> dict[str, float]:
    """What the old worker did: the whole file as float64, mean to mono, per-bucket max in a Python loop."""
    samples, sample_rate = soundfile.read(str(path), dtype="float64")
    mono = samples.mean(axis=1)
    per_bucket = len(mono) // NUM_PEAKS
    peaks = []
    for index in range(NUM_PEAKS):
        peaks.append(float(np.max(np.abs(mono[index * per_bucket:(index + 1) * per_bucket]))))
    loudest = max(peaks)
    return {"duration": len(mono) / sample_rate, "peak": round(loudest, 4)}


def streaming(path: Path) -> dict[str, float]:
    with open(os.devnull, "wb") as detail:
        result = analyse_file(path, num_peaks=NUM_PEAKS, detail_samples_per_pixel=256, detail_output=detail)
    return {"duration": result.duration, "peak": max(result.peaks)}


def run_one(kind: str, path: str) -> None:
    """Child process: one analysis (modules already imported), then its wall time and peak RSS as JSON."""
    started = time.perf_counter()
    outcome = (naive if kind == "naive" else streaming)(Path(path))
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "rss_mb": peak_rss_mb(), **outcome}))


def peak_rss_mb() -> float:
    """VmHWM: this process image's own high-water mark (ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, path: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def hash_throughput(size_mb: int = 512) -> tuple[float, float]:
    """MB/s of the download stream (hash + write to the temp area, 1 MiB chunks) and of plain hashlib."""
    data = np.random.default_rng(2).bytes(size_mb * 1024 * 1024)
    chunk = 1024 * 1024
    view = memoryview(data)
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        copy_and_hash((view[offset:offset + chunk] for offset in range(0, len(data), chunk)), output)
        stream = size_mb / (time.perf_counter() - started)
    started = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    plain = size_mb / (time.perf_counter() - started)
    return stream, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--formats", nargs="+", default=list(SUBTYPES), choices=list(SUBTYPES))
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_one(*arguments.child)
        return
    print(f"{'file':<14}{'naive s':>9}{'ours s':>9}{'speed-up':>10}{'naive MB':>10}{'ours MB':>9}{'RSS ratio':>10}")
    with tempfile.TemporaryDirectory() as directory:
        for minutes in arguments.minutes:
            for container in arguments.formats:
                path = Path(directory) / f"{minutes}min.{container.lower()}"
                generate(path, minutes, container)
                baseline, ours = measure("naive", path), measure("streaming", path)
                print(f"{path.name:<14}{baseline['seconds']:>9.2f}{ours['seconds']:>9.2f}"
                      f"{baseline['seconds'] / ours['seconds']:>9.1f}x{baseline['rss_mb']:>10.0f}{ours['rss_mb']:>9.0f}"
                      f"{baseline['rss_mb'] / ours['rss_mb']:>9.1f}x", flush=True)
                path.unlink()
    stream, plain = hash_throughput()
    print(f"\nSHA-256 of the download stream: {stream:.0f} MB/s; plain hashlib.sha256 in memory: {plain:.0f} MB/s "
          f"({stream / plain:.0%})")


if __name__ == "__main__":
    main()
