"""The decoder fuzzed with mutated valid files of every format: each ends in a result or a named error."""

from __future__ import annotations

import io
import os
import tracemalloc
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.audio_samples import encode, encode_with_ffmpeg, sine
from waveflow.audio.analysis import analyse_file
from waveflow.errors import WaveFlowError

MEMORY_CEILING = 64 * 1024 * 1024
SEEDS = {
    "wav": lambda: encode(sine(0.3)),
    "aiff": lambda: encode(sine(0.3), format="AIFF"),
    "flac": lambda: encode(sine(0.3), format="FLAC"),
    "ogg": lambda: encode(sine(0.3), format="OGG", subtype="VORBIS"),
    "opus": lambda: encode(sine(0.3, sample_rate=48000), format="OGG", subtype="OPUS", sample_rate=48000),
    "mp3": lambda: encode(sine(0.3), format="MP3", subtype=None),
    "m4a": lambda: encode_with_ffmpeg(sine(0.3), container="ipod", codec="aac"),
    "webm": lambda: encode_with_ffmpeg(sine(0.3, sample_rate=48000), container="webm", codec="libopus",
                                       sample_rate=48000),
}


@cache
def seed(kind: str) -> bytes:
    return SEEDS[kind]()


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "zero_run", "header"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif action == "zero_run":
            data[position:position + draw(st.integers(1, 512))] = bytes(min(512, len(data) - position))
        elif action == "header" and len(data) > 64:
            offset = draw(st.integers(0, 63))
            data[offset:offset + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


@pytest.mark.parametrize("kind", list(SEEDS))
def test_mutated_files_end_in_a_result_or_a_named_error(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp(f"fuzz-{kind}")
    outcomes = {"analysed": 0, "named error": 0}

    @settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(mutated(seed(kind)))
    def run(data: bytes) -> None:
        path = Path(directory) / f"input.{kind}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            with open(os.devnull, "wb") as detail:
                analysis = analyse_file(path, num_peaks=256, detail_samples_per_pixel=256, detail_output=detail)
            assert analysis.frames > 0 and len(analysis.peaks) == 256
            outcomes["analysed"] += 1
        except WaveFlowError as error:
            assert error.message and error.code
            outcomes["named error"] += 1
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < MEMORY_CEILING

    run()
    assert sum(outcomes.values()) >= 150


def test_seed_files_themselves_analyse(tmp_path: Path) -> None:
    for kind in SEEDS:
        path = tmp_path / f"seed.{kind}"
        path.write_bytes(seed(kind))
        result = analyse_file(path, num_peaks=64, detail_samples_per_pixel=256, detail_output=io.BytesIO())
        assert result.frames > 0
