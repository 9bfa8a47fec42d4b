"""Analysis speed and memory against the old worker's naive approach, measured in the same run.

Generates 10- and 60-minute 44.1 kHz stereo test audio (WAV, FLAC, MP3) in a temp directory, then runs each
analysis in a fresh process and prints wall time, peak RSS and the ratio: the naive approach, our one pass,
our parallel segments (one per core), the same without the insights (loudness, true peak, clipping, silence,
DC offset: `ins÷bare` is what they cost), and audiowaveform writing the same `.dat` when `$AUDIOWAVEFORM` names
its executable. Also compares the download stream's hashing with plain `hashlib.sha256` over the same bytes.

    .venv/bin/python bench/analysis.py [--minutes 10 60] [--formats WAV FLAC MP3] [--no-naive]
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
DETAIL_SAMPLES_PER_PIXEL = 256
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


def streaming(path: Path, segments: int | None, insights: bool = True) -> dict[str, float]:
    """Our analysis writing its `.dat` to a real file, as the worker and audiowaveform do."""
    with tempfile.TemporaryFile() as detail:
        result = analyse_file(path, num_peaks=NUM_PEAKS, detail_samples_per_pixel=DETAIL_SAMPLES_PER_PIXEL,
                              detail_output=detail, segments=segments, insights=insights)
    return {"duration": result.duration, "peak": max(result.peaks)}


ANALYSES = {
    "naive": naive,
    "one-pass": lambda path: streaming(path, segments=1),
    "parallel": lambda path: streaming(path, segments=None),
    "parallel-without-insights": lambda path: streaming(path, segments=None, insights=False),
}


def run_one(kind: str, path: str) -> None:
    """Child process: one analysis (modules already imported), then its wall time and peak RSS as JSON."""
    started = time.perf_counter()
    outcome = ANALYSES[kind](Path(path))
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


AUDIOWAVEFORM_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": usage.ru_maxrss / 1024,
                  "exit": os.waitstatus_to_exitcode(status)}))
"""


def measure_audiowaveform(executable: str, path: Path) -> dict[str, float]:
    """audiowaveform's wall time and peak RSS writing the same 8-bit `.dat`.

    A child's ru_maxrss starts at the size of the process that forked it, so audiowaveform is started and timed by
    a bare Python (`-S`, a few MB) instead of this bench: the reading is audiowaveform's own peak."""
    with tempfile.TemporaryDirectory() as directory:
        command = [executable, "-q", "-i", str(path), "-o", str(Path(directory) / "out.dat"),
                   "-z", str(DETAIL_SAMPLES_PER_PIXEL), "-b", "8"]
        output = subprocess.run([sys.executable, "-S", "-c", AUDIOWAVEFORM_LAUNCHER, *command], check=True,
                                capture_output=True, text=True).stdout
    result = json.loads(output)
    if result.pop("exit") != 0:
        raise RuntimeError(f"{' '.join(command)} failed")
    return result


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
    parser.add_argument("--no-naive", action="store_true", help="skip the naive approach (it holds the whole file)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_one(*arguments.child)
        return
    audiowaveform = os.environ.get("AUDIOWAVEFORM")
    if not audiowaveform:
        print("audiowaveform column skipped: $AUDIOWAVEFORM does not name its executable")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'file':<14}{'naive s':>9}{'1-pass s':>10}{'parallel s':>12}{'par/1-pass':>12}{'bare s':>8}"
          f"{'ins÷bare':>10}{'aw s':>8}{'par/aw':>8}{'naive MB':>10}{'1-pass MB':>11}{'par MB':>8}{'bare MB':>9}"
          f"{'aw MB':>7}")
    with tempfile.TemporaryDirectory() as directory:
        for minutes in arguments.minutes:
            for container in arguments.formats:
                path = Path(directory) / f"{minutes}min.{container.lower()}"
                generate(path, minutes, container)
                baseline = None if arguments.no_naive else measure("naive", path)
                one_pass, parallel = measure("one-pass", path), measure("parallel", path)
                bare = measure("parallel-without-insights", path)
                reference = measure_audiowaveform(audiowaveform, path) if audiowaveform else None
                print(f"{path.name:<14}{_seconds(baseline):>9}{one_pass['seconds']:>10.2f}{parallel['seconds']:>12.2f}"
                      f"{parallel['seconds'] / one_pass['seconds']:>11.2f}x{bare['seconds']:>8.2f}"
                      f"{parallel['seconds'] / bare['seconds']:>9.2f}x{_seconds(reference):>8}"
                      f"{_ratio(parallel, reference):>8}{_megabytes(baseline):>10}{one_pass['rss_mb']:>11.0f}"
                      f"{parallel['rss_mb']:>8.0f}{bare['rss_mb']:>9.0f}{_megabytes(reference):>7}", flush=True)
                path.unlink()
    stream, plain = hash_throughput()
    print(f"\nSHA-256 of the download stream: {stream:.0f} MB/s; plain hashlib.sha256 in memory: {plain:.0f} MB/s "
          f"({stream / plain:.0%})")


def _seconds(measured: dict[str, float] | None) -> str:
    return "-" if measured is None else f"{measured['seconds']:.2f}"


def _megabytes(measured: dict[str, float] | None) -> str:
    return "-" if measured is None else f"{measured['rss_mb']:.0f}"


def _ratio(ours: dict[str, float], reference: dict[str, float] | None) -> str:
    return "-" if reference is None else f"{ours['seconds'] / reference['seconds']:.2f}x"


if __name__ == "__main__":
    main()
