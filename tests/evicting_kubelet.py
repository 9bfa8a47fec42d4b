"""What the kubelet does to a worker pod whose emptyDir passes its `sizeLimit`: it kills the pod and deletes the
volume; the Deployment starts another pod, with a new name and an empty volume."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from devstack.processes import spawn, stop_process

POLL_SECONDS = 0.02


class EvictingKubelet:
    def __init__(self, env: dict[str, str], temp_dir: Path, size_limit_bytes: int, log_dir: Path) -> None:
        self._env, self._temp_dir, self._limit, self._log_dir = env, temp_dir, size_limit_bytes, log_dir
        self.evictions = 0
        self.peak_bytes = 0
        self._pod: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()

    @contextlib.contextmanager
    def running(self) -> Iterator[EvictingKubelet]:
        self._start_pod()
        watcher = threading.Thread(target=self._watch, name="kubelet", daemon=True)
        watcher.start()
        try:
            yield self
        finally:
            self._stopped.set()
            watcher.join()
            if self._pod is not None:
                stop_process(self._pod)

    def _start_pod(self) -> None:
        name = f"pod-{self.evictions}"
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        self._pod = spawn("worker.py", {**self._env, "WORKER_HOST_ID": name, "TEMP_DIR": str(self._temp_dir)},
                          self._log_dir / f"{name}.log")

    def _watch(self) -> None:
        while not self._stopped.wait(POLL_SECONDS):
            used = disk_usage(self._temp_dir)
            self.peak_bytes = max(self.peak_bytes, used)
            if used > self._limit:
                assert self._pod is not None
                self._pod.kill()
                self._pod.wait()
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self.evictions += 1
                self._start_pod()


def disk_usage(directory: Path) -> int:
    """As `du` counts it, which is how the kubelet measures an emptyDir."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total
