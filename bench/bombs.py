"""Hostile uploads through the whole stack: each must end in its named FAILURE soon after its download.

Starts the embedded stack (Temporal dev server, moto, the NestJS stand-in, `worker.py` and `sqs_bridge.py` as
processes) and sends, beside one ordinary stem that must still succeed:

- a FLAC whose header declares 24 hours (a day of silence is 17 MB of FLAC; only its header matters here);
- a valid 1-second WAV behind 12 million empty JUNK chunks (96 MB; a decoder spends 12 s of CPU walking them);
- a FLAC that does not declare its length and holds more audio than `MAX_AUDIO_SECONDS`;
- a mix of 32 stems, each declaring two hours;
- a mix whose stems together hold more than `MIX_MAX_INPUT_SECONDS`;
- a mix of two 96 kHz float WAVs whose stems and output need more temp disk than `TEMP_BUDGET_MB`.

The limits are lowered so that the lying FLAC stays small (`MAX_AUDIO_SECONDS=60`, `MIX_MAX_SECONDS=60`,
`MIX_MAX_INPUT_SECONDS=120`) and the budget is small enough to pass (`TEMP_BUDGET_MB=128`). Prints, per bomb, its
error code and message, the time from its send to its FAILURE and from its download's end to it, and the temp
area's peak size during the run against the budget.

    .venv/bin/python bench/bombs.py
"""

from __future__ import annotations

import io
import json
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embedded import COMPLETION, HASH_CHECK, MIXING_COMPLETE, bench_stack, hash_message

FLAC_TOTAL_SAMPLES = 8 + 13
LIMITS = {"MAX_AUDIO_SECONDS": "60", "MIX_MAX_SECONDS": "60", "MIX_MAX_INPUT_SECONDS": "120",
          "MAX_FILE_SIZE_MB": "100", "TEMP_BUDGET_MB": "128"}


def flac(seconds: float, declared_frames: int | None = None) -> bytes:
    buffer = io.BytesIO()
    frames = round(seconds * 48000)
    tone = (0.1 * np.sin(np.arange(frames) * 2 * np.pi * 440 / 48000)).astype(np.float32)
    soundfile.write(buffer, np.repeat(tone[:, None], 2, axis=1), 48000, format="FLAC")
    data = bytearray(buffer.getvalue())
    if declared_frames is not None:
        data[FLAC_TOTAL_SAMPLES] = (data[FLAC_TOTAL_SAMPLES] & 0xF0) | (declared_frames >> 32)
        data[FLAC_TOTAL_SAMPLES + 1:FLAC_TOTAL_SAMPLES + 5] = (declared_frames & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def wav_behind_junk(chunks: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((44100, 2), dtype=np.int16), 44100, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    body = wav[12:36] + b"JUNK\x00\x00\x00\x00" * chunks + wav[36:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def hires_wav(seconds: float, seed: int) -> bytes:
    """96 kHz stereo float: 0.77 MB a second, and its mix 1.15 MB a second of temp disk."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(seed).uniform(-0.4, 0.4, (round(seconds * 96000), 2)).astype(np.float32)
    soundfile.write(buffer, noise, 96000, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def mix_message(stage_id: str, paths: list[str]) -> str:
    return json.dumps({"task": "app.tasks.mix_stems_and_upload", "id": f"mixing-{stage_id}-1", "args": [],
                       "kwargs": {"stageId": stage_id, "upstreamId": f"up-{stage_id}", "stem_paths": paths}})


class PeakSize:
    """The largest total size of the files in a directory, sampled every 20 ms."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.peak = directory, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            total = 0
            for path in self.directory.glob("*") if self.directory.is_dir() else []:
                try:
                    total += path.stat().st_size
                except OSError:
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def main() -> None:
    stems = {"day-long-flac": flac(1.0, declared_frames=24 * 3600 * 48000),
             "junk-chunks-wav": wav_behind_junk(12_000_000),
             "undeclared-length-flac": flac(90.0, declared_frames=0),
             "ordinary": flac(5.0)}
    mixes = {"mix-of-32-long-stems": [f"uploads/long/{index}.flac" for index in range(32)],
             "mix-of-too-much-input": [f"uploads/fifty/{index}.flac" for index in range(3)],
             "mix-over-the-temp-budget": [f"uploads/hires/{index}.wav" for index in range(2)]}
    sent: dict[str, float] = {}
    with bench_stack("bombs", **LIMITS) as stack:
        for stem_id, data in stems.items():
            stack.put(f"uploads/{stem_id}.flac", data)
        long_stem = flac(1.0, declared_frames=2 * 3600 * 48000)
        for key in mixes["mix-of-32-long-stems"]:
            stack.put(key, long_stem)
        for key in mixes["mix-of-too-much-input"]:
            stack.put(key, flac(50.0))
        for index, key in enumerate(mixes["mix-over-the-temp-budget"]):
            stack.put(key, hires_wav(55.0, seed=index))
        stack.start("worker.py", "worker")
        stack.start("sqs_bridge.py", "bridge")
        temp = PeakSize(stack.work / "temp")
        try:
            for stem_id in stems:
                sent[stem_id] = time.time()
                stack.send(hash_message(stem_id, f"uploads/{stem_id}.flac"))
            for stage_id, paths in mixes.items():
                sent[stage_id] = time.time()
                stack.send(mix_message(stage_id, paths))
            stack.standin.wait_for(COMPLETION, len(stems), timeout=300)
            stack.standin.wait_for(MIXING_COMPLETE, len(mixes), timeout=300)
        finally:
            peak = temp.stop()
    standin = stack.standin
    hashed_at = {item.body["stemId"]: item.received_at for item in standin.accepted(HASH_CHECK)}
    print("limits: " + ", ".join(f"{name}={value}" for name, value in LIMITS.items()))
    for item in standin.accepted(COMPLETION) + standin.accepted(MIXING_COMPLETE):
        name = item.body.get("stemId") or item.body["stageId"]
        result = item.body.get("result") or {}
        outcome = item.body["status"] if item.body["status"] == "SUCCESS" else result.get("error_code")
        after_download = f"{item.received_at - hashed_at[name]:6.2f} s" if name in hashed_at else "     —  "
        print(f"{name:<24} {outcome:<16} send → outcome {item.received_at - sent[name]:6.2f} s   "
              f"hash-check → outcome {after_download}   {result.get('error', '')[:110]}")
    print(f"temp area peak: {peak / 1048576:.1f} MB of a {LIMITS['TEMP_BUDGET_MB']} MB budget (the largest upload is "
          f"{max(map(len, stems.values())) / 1048576:.1f} MB)")


if __name__ == "__main__":
    main()
