"""A memory cgroup of the test's own, with a limit, on cgroup v2 or on the v1 memory controller."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import time
from pathlib import Path

V2_ROOT = Path("/sys/fs/cgroup")
V1_ROOT = Path("/sys/fs/cgroup/memory")


class MemoryCgroup:
    def __init__(self, path: Path, v2: bool) -> None:
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls, limit_bytes: int) -> MemoryCgroup:
        """Raises OSError where this process may not make one (no root, no memory controller)."""
        controllers = V2_ROOT / "cgroup.controllers"
        v2 = controllers.exists() and "memory" in controllers.read_text().split()
        path = (V2_ROOT if v2 else V1_ROOT) / f"waveflow-test-{secrets.token_hex(4)}"
        path.mkdir()
        (path / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit_bytes))
        return cls(path, v2)

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        text = (self.path / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
        found = re.search(r"^oom_kill (\d+)$", text, flags=re.MULTILINE)
        return int(found[1]) if found else 0

    def anonymous_bytes(self) -> int:
        """Memory the processes hold themselves, not the page cache of the files they wrote (the kernel reclaims
        that under the limit)."""
        stat = (self.path / "memory.stat").read_text()
        found = re.search(rf"^{'anon' if self.v2 else 'total_rss'} (\d+)$", stat, flags=re.MULTILINE)
        return int(found[1]) if found else 0

    def remove(self) -> None:
        """Once every process in it ended (a worker's forkserver and decoders outlive it by a moment)."""
        deadline = time.monotonic() + 10
        while self.procs.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.procs.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        while self.procs.read_text().split():
            time.sleep(0.1)
        self.path.rmdir()
