"""Heartbeats for the moments an activity blocks: an S3 call with botocore's own retries, a wait for a core."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from temporalio import activity

BEAT_EVERY_SECONDS = 2.0


@contextlib.contextmanager
def heartbeat_while(details: dict[str, object], every: float = BEAT_EVERY_SECONDS) -> Iterator[None]:
    """Heartbeats from a helper thread while the block runs, so a call that blocks longer than the heartbeat
    timeout is not taken for a dead worker (which would start a second attempt beside the first)."""
    stop = threading.Event()
    context = contextvars.copy_context()  # the activity's own context: heartbeat() needs it

    def beat() -> None:
        while not stop.wait(every):
            context.run(activity.heartbeat, details)

    beater = threading.Thread(target=beat, name="heartbeat", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join()


class CpuSlots:
    """At most `count` CPU-bound steps (analyses, mixes) at once on this host; the others wait, heartbeating, so
    downloads and webhooks always find a core."""

    def __init__(self, count: int) -> None:
        self._slots = threading.BoundedSemaphore(count)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with heartbeat_while({"stage": "waiting for a core"}):
            self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()
