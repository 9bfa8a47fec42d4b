"""Decoding in processes of their own, which the caller can abandon.

A hostile file can hang a decoder inside C code or crash it. In a thread, either costs the worker: a hung
decoder keeps its core for good, a crash takes every activity of the process down with it. In a decoding
process, the caller watches the progress and kills the process when none comes for `stall_seconds`; a crash ends
that process only. Either way the next job gets a new process.

Decoding processes live on between jobs (a start costs about 27 ms of CPU, more than a short stem's analysis)
and fork from a forkserver that has the audio modules loaded, never from the worker, whose threads a fork would
copy half-way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from waveflow.errors import DamagedAudioError

T = TypeVar("T")
POLL_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 0.25
_PRELOADED = ["waveflow.isolation", "waveflow.audio.analysis", "waveflow.audio.mix"]
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(_PRELOADED)
_starting = threading.Lock()
_NO_MAIN = types.ModuleType("__main__")


class DecoderStalledError(DamagedAudioError):
    """The decoder made no progress for the set time: the file holds something it cannot get through."""


class DecoderCrashedError(DamagedAudioError):
    """The decoder's process died of a signal a bad input causes (a segmentation fault, an abort)."""


class DecodingProcesses:
    """Decoding processes for one worker: each runs one job at a time; an idle one is reused."""

    def __init__(self, stall_seconds: float,
                 uninterrupted: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
                 ) -> None:
        """`uninterrupted`: a block the caller's own cancellation must not cut in two (a sync Temporal activity is
        cancelled by an exception raised in its thread at any point): a process start, the pool's bookkeeping."""
        self._stall_seconds = stall_seconds
        self._uninterrupted = uninterrupted
        self._idle: list[_DecodingProcess] = []
        self._lock = threading.Lock()

    def run(self, target: Callable[..., T], *, progress: Callable[..., None], beat: Callable[[], None],
            what: str) -> T:
        """`target(progress=...)` in a decoding process (a module-level function, or a `functools.partial` of
        one); its progress calls reach `progress` here, and an exception it raises is raised here.

        `beat` is called about every second while the process is silent, so the caller can heartbeat until this
        side decides. `what` names the work in errors.
        """
        with self._uninterrupted():
            decoder = self._take()
        try:
            outcome = decoder.run(target, progress, beat, self._stall_seconds, what)
        except BaseException:  # stalled, died, or this thread interrupted (a cancelled activity): never reused
            decoder.kill()
            raise
        with self._uninterrupted(), self._lock:
            self._idle.append(decoder)
        if isinstance(outcome, _Raised):
            raise outcome.error
        return outcome

    def _take(self) -> _DecodingProcess:
        """An idle process that is still alive (the OOM killer may have taken one), or a new one."""
        while True:
            with self._lock:
                decoder = self._idle.pop() if self._idle else None
            if decoder is None:
                return _DecodingProcess()
            if decoder.alive:
                return decoder
            decoder.kill()

    def warm(self) -> None:
        """Starts an idle decoding process (and the forkserver behind it), so the first job does not wait for them."""
        decoder = _DecodingProcess()
        with self._lock:
            self._idle.append(decoder)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for decoder in idle:
            decoder.kill()


class _DecodingProcess:
    def __init__(self) -> None:
        self._connection, child_end = _context.Pipe()
        self._process: BaseProcess = _context.Process(target=_serve, args=(child_end,), name="waveflow-decoder",
                                                       daemon=True)
        with _main_left_out():
            self._process.start()
        child_end.close()

    def run(self, target: Callable[..., T], progress: Callable[..., None], beat: Callable[[], None],
            stall_seconds: float, what: str) -> T | _Raised:
        """The job's result or what it raised; raises when the process stalls or dies."""
        self._connection.send(target)
        last_progress, last_values = time.monotonic(), None
        while True:
            if self._connection.poll(POLL_SECONDS):
                try:
                    kind, value = self._connection.recv()
                except EOFError:
                    self._process.join()
                    raise _died(what, self._process.exitcode) from None
                if kind != "progress":
                    return value if kind == "result" else _Raised(value)
                if value != last_values:  # a report that repeats the last one is no progress
                    last_progress, last_values = time.monotonic(), value
                progress(*value)
            else:
                beat()
            if time.monotonic() - last_progress > stall_seconds:
                raise DecoderStalledError(f"{what} made no progress for {stall_seconds:g} s and was abandoned "
                                          f"(DECODER_STALL_SECONDS)")

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._connection.close()


class _Raised:
    """What a job raised: the process that ran it is sound and takes the next job."""

    def __init__(self, error: Exception) -> None:
        self.error = error


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """multiprocessing runs the parent's main script again in every child, so that functions defined in it can be
    unpickled there. Targets here live in importable modules, and the worker's script imports all of Temporal and
    boto3: each child would spend a second on it. While a child starts, `__main__` is a module with no file."""
    with _starting:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _NO_MAIN
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _died(what: str, exit_code: int | None) -> Exception:
    if exit_code is not None and exit_code < 0 and -exit_code in _CRASH_SIGNALS:
        return DecoderCrashedError(f"{what} crashed on this file ({signal.Signals(-exit_code).name})")
    cause = signal.Signals(-exit_code).name if exit_code is not None and exit_code < 0 else f"exit code {exit_code}"
    # A SIGKILL is most often the kernel's OOM killer: worth another attempt, perhaps on a host with more room.
    return RuntimeError(f"{what} ended without a result ({cause})")


def _serve(connection: Connection) -> None:
    """The decoding process: jobs until the worker closes its end (or dies, which closes it too)."""
    while True:
        try:
            target = connection.recv()
        except EOFError:
            return
        next_report = 0.0

        def report(*values: Any) -> None:
            nonlocal next_report
            now = time.monotonic()
            if now >= next_report:
                next_report = now + PROGRESS_EVERY_SECONDS
                connection.send(("progress", values))

        try:
            result = target(progress=report)
        except Exception as error:
            try:
                connection.send(("error", error))
            except Exception:  # an error that cannot be pickled still has to be told
                connection.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
        else:
            connection.send(("result", result))
