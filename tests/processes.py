"""Worker and bridge as real subprocesses, for tests that kill them."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spawn(script: str, env: dict[str, str], log_path: Path, max_file_bytes: int | None = None,
          ) -> subprocess.Popen[bytes]:
    """Start `python <script>`; with `max_file_bytes`, no file it writes may grow past that (a full disk)."""
    log = log_path.open("ab")

    def limit_file_size() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.Popen([sys.executable, str(ROOT / script)], cwd=ROOT, env={**os.environ, **env},
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit_file_size)
