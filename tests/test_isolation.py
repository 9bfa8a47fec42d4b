"""Decoding processes: a hung decoder is abandoned and its core recovered, a crash stays in its process."""

from __future__ import annotations

import ctypes
import io
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from tests.audio_samples import encode, sine
from waveflow.audio.analysis import LengthLimit, analyse_file, analyse_into
from waveflow.audio.mix import MixStemError
from waveflow.errors import AudioTooLongError, DamagedAudioError, ErrorCode
from waveflow.isolation import DecoderCrashedError, DecoderStalledError, DecodingProcesses

T = TypeVar("T")


def hang_in_c(pid_file: Path, progress: Callable[..., None]) -> None:
    """Reports once, then blocks inside C code, as a decoder looping on a crafted file would."""
    pid_file.write_text(str(os.getpid()))
    progress(1)
    ctypes.CDLL(None).pause()


def crash(progress: Callable[..., None]) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def fail_as_a_mix_stem(progress: Callable[..., None]) -> None:
    raise MixStemError("uploads/a.wav", AudioTooLongError("audio too long"))


def own_pid(progress: Callable[..., None]) -> int:
    return os.getpid()


@pytest.fixture
def decoders() -> Iterator[DecodingProcesses]:
    processes = DecodingProcesses(stall_seconds=2.0)
    yield processes
    processes.close()


def run(decoders: DecodingProcesses, target: Callable[..., T]) -> tuple[T, list[tuple[object, ...]]]:
    """(result, progress calls)."""
    reported: list[tuple[object, ...]] = []
    result = decoders.run(target, progress=lambda *values: reported.append(values), beat=lambda: None,
                          what="the decoder")
    return result, reported


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_an_analysis_in_a_decoding_process_is_the_same_analysis_with_its_progress(
        decoders: DecodingProcesses, tmp_path: Path) -> None:
    source = tmp_path / "tone.wav"
    source.write_bytes(encode(sine(20.0)))
    here = io.BytesIO()
    expected = analyse_file(source, num_peaks=100, detail_samples_per_pixel=256, detail_output=here)

    result, reported = run(decoders, partial(analyse_into, source, tmp_path / "tone.dat", num_peaks=100,
                                             detail_samples_per_pixel=256))

    assert result.peaks == expected.peaks and result.frames == expected.frames
    assert (tmp_path / "tone.dat").read_bytes() == here.getvalue()
    assert reported and reported[0][1] == 44100


def test_a_decoder_that_hangs_in_c_is_killed_named_and_replaced(decoders: DecodingProcesses, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    beats: list[float] = []
    started = time.monotonic()
    with pytest.raises(DecoderStalledError) as stalled:
        decoders.run(partial(hang_in_c, pid_file), progress=lambda *_: None, beat=lambda: beats.append(1.0),
                     what="the decoder")
    assert 2.0 < time.monotonic() - started < 5.0
    assert len(beats) >= 2, "the caller heartbeats while the decoder is silent"
    assert stalled.value.code == ErrorCode.DAMAGED_AUDIO
    assert stalled.value.message == "the decoder made no progress for 2 s and was abandoned (DECODER_STALL_SECONDS)"
    hung = int(pid_file.read_text())
    assert gone(hung), "the core is back: the process is gone"
    next_pid, _ = run(decoders, own_pid)
    assert next_pid != hung


def test_a_decoder_crash_ends_its_process_only_and_is_named(decoders: DecodingProcesses) -> None:
    with pytest.raises(DecoderCrashedError, match=r"^the decoder crashed on this file \(SIGSEGV\)$"):
        run(decoders, crash)
    assert issubclass(DecoderCrashedError, DamagedAudioError)
    assert run(decoders, own_pid)[0] != os.getpid()


def test_an_input_error_crosses_with_its_code_and_the_process_is_reused(
        decoders: DecodingProcesses, tmp_path: Path) -> None:
    first, _ = run(decoders, own_pid)
    with pytest.raises(MixStemError) as failed:
        run(decoders, fail_as_a_mix_stem)
    assert failed.value.code == ErrorCode.AUDIO_TOO_LONG
    assert failed.value.message == "stem uploads/a.wav: audio too long"
    source = tmp_path / "long.wav"
    source.write_bytes(encode(sine(3.0)))
    with pytest.raises(AudioTooLongError, match=r"over the 0:00:01\.0 limit"):
        run(decoders, partial(analyse_into, source, tmp_path / "long.dat", num_peaks=10, detail_samples_per_pixel=256,
                              limit=LengthLimit(1.0)))
    assert run(decoders, own_pid)[0] == first


def test_closing_ends_the_idle_processes(tmp_path: Path) -> None:
    processes = DecodingProcesses(stall_seconds=2.0)
    pid, _ = run(processes, own_pid)
    processes.close()
    assert gone(pid)


def test_a_warmed_process_takes_the_first_job(decoders: DecodingProcesses) -> None:
    decoders.warm()
    warmed = {child.pid for child in multiprocessing.active_children()}
    assert run(decoders, own_pid)[0] in warmed


def report_the_same_then_hang(pid_file: Path, progress: Callable[..., None]) -> None:
    """As a segmented analysis with one segment stuck: its total is reported every second and never moves."""
    pid_file.write_text(str(os.getpid()))
    while True:
        progress(1000, 44100)
        time.sleep(0.3)


class Unpicklable(Exception):
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("cannot cross")


def fail_unpicklably(progress: Callable[..., None]) -> None:
    raise Unpicklable("deep inside")


def test_reports_that_do_not_move_are_no_progress(decoders: DecodingProcesses, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(DecoderStalledError):
        run(decoders, partial(report_the_same_then_hang, pid_file))
    assert gone(int(pid_file.read_text()))


def test_an_error_that_cannot_be_pickled_is_still_told(decoders: DecodingProcesses) -> None:
    with pytest.raises(RuntimeError, match=r"^Unpicklable: deep inside$"):
        run(decoders, fail_unpicklably)


def test_a_pooled_process_that_died_idle_is_replaced(decoders: DecodingProcesses) -> None:
    first, _ = run(decoders, own_pid)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.3)
    assert run(decoders, own_pid)[0] != first
