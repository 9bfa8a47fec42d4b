"""Heartbeats for the moments an activity blocks: an S3 call with botocore's own retries, a wait for a core."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from temporalio import activity

from waveflow.isolation import DecodingProcesses

T = TypeVar("T")

BEAT_EVERY_SECONDS = 2.0
PROGRESS_EVERY_SECONDS = 1.0


def _in_local_activity() -> bool:
    """A local activity has no heartbeat: the timeout of the workflow task it runs in watches it."""
    try:
        return activity.info().is_local
    except RuntimeError:  # not in an activity: a direct call, as the tests make
        return False


class ProgressBeat:
    """Progress heartbeats at most once a second, and none in a step's first second: a step that ends sooner
    needs none (every heartbeat that reaches the server is a billable action on Temporal Cloud)."""

    def __init__(self, details: dict[str, object] | None = None, every: float = PROGRESS_EVERY_SECONDS) -> None:
        self._details = details or {}
        self._every = every
        self._next = time.monotonic() + every

    def __call__(self, details: dict[str, object]) -> None:
        self._details = details
        self.repeat()

    def repeat(self) -> None:
        """The last details again: the step is alive, though its progress has not moved."""
        now = time.monotonic()
        if now >= self._next and not _in_local_activity():
            self._next = now + self._every
            activity.heartbeat(self._details)

    def waiting_for_disk(self, seconds: float) -> None:
        """For `TempArea.reserve`: the step is alive, waiting for room in the host's temp budget."""
        self({**self._details, "waiting_for_temp_disk_seconds": round(seconds)})


class _Beater:
    """One daemon thread for the whole process that heartbeats every blocked activity in turn; registering is
    cheap, so every S3 call can afford it."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._blocked: dict[int, tuple[contextvars.Context, dict[str, object]]] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, details: dict[str, object]) -> int:
        token = next(self._tokens)
        with self._lock:
            # The activity's own context: heartbeat() finds the activity through it.
            self._blocked[token] = (contextvars.copy_context(), details)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
        return token

    def remove(self, token: int) -> None:
        with self._lock:
            self._blocked.pop(token, None)

    def _run(self) -> None:
        waiting = threading.Event()
        while True:
            waiting.wait(self._every)
            with self._lock:
                blocked = list(self._blocked.values())
            for context, details in blocked:
                with contextlib.suppress(RuntimeError):  # the activity ended between the copy and the beat
                    context.run(activity.heartbeat, details)


_beater = _Beater(BEAT_EVERY_SECONDS)


@contextlib.contextmanager
def heartbeat_while(details: dict[str, object]) -> Iterator[None]:
    """Heartbeats while the block runs, so a call that blocks longer than the heartbeat timeout is not taken for
    a dead worker (which would start a second attempt beside the first)."""
    if _in_local_activity():
        yield
        return
    token = _beater.add(details)
    try:
        yield
    finally:
        _beater.remove(token)


class CpuSlots:
    """At most `count` CPU-bound steps (analyses, mixes) at once on this host; the others wait, heartbeating, so
    downloads and webhooks always find a core. Each step decodes in a process of its own, abandoned after
    `stall_seconds` without progress."""

    def __init__(self, count: int, stall_seconds: float) -> None:
        self._slots = threading.BoundedSemaphore(count)
        self._decoders = DecodingProcesses(stall_seconds, uninterrupted=activity.shield_thread_cancel_exception)

    def warm(self) -> None:
        """A decoding process ready before the first step asks for one (starting one takes about half a second)."""
        self._decoders.warm()

    def run(self, target: Callable[..., T], *, progress: Callable[..., None], beat: Callable[[], None],
            what: str) -> T:
        """`target(progress=...)` in a decoding process, once a core is free (`waveflow.isolation`)."""
        acquired = False
        try:
            # A cancel raised in this thread waits for the end of the block: a core taken is always given back.
            with activity.shield_thread_cancel_exception(), heartbeat_while({"phase": "waiting for a core"}):
                self._slots.acquire()
                acquired = True
            return self._decoders.run(target, progress=progress, beat=beat, what=what)
        finally:
            if acquired:
                self._slots.release()
