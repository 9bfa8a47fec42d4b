"""WaveFlow's temp area on one host: named files, leases while in use, and the Celery worker's age-based sweep."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from waveflow.errors import TempSpaceError
from waveflow.models import SweepReport

FILE_PREFIX = "waveflow-"
OWN_FILE = re.compile(r"^waveflow-stem-(?P<stem>[A-Za-z0-9][A-Za-z0-9._-]{0,127})-[0-9a-f]{8}\.[a-z0-9]+$")
OWN_FILES_MAX_AGE_SECONDS = 30 * 60
ANY_FILE_MAX_AGE_SECONDS = 2 * 60 * 60


class TempArea:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def new_path(self, stem_id: str, suffix: str) -> Path:
        """A fresh path for one stem's file; the stem id was validated, so it cannot leave the area."""
        self.ensure()
        return self.root / f"{FILE_PREFIX}stem-{stem_id}-{secrets.token_hex(4)}.{suffix}"

    def contains(self, path: Path) -> bool:
        resolved = path.resolve()
        return resolved.parent == self.root.resolve() and OWN_FILE.match(resolved.name) is not None

    @contextlib.contextmanager
    def lease(self, path: Path) -> Iterator[None]:
        """Marks a file in use for as long as the block runs: the sweep never removes a leased file."""
        descriptor = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH)
            os.utime(descriptor)
            yield
        finally:
            os.close(descriptor)

    def stem_ids(self) -> set[str]:
        """The stems (and mixes) with a file here."""
        if not self.root.is_dir():
            return set()
        return {match["stem"] for path in self.root.iterdir() if (match := OWN_FILE.match(path.name))}

    def remove_stem_files(self, stem_id: str) -> list[str]:
        removed = []
        for path in self.root.glob(f"{FILE_PREFIX}stem-{stem_id}-*"):
            match = OWN_FILE.match(path.name)
            if match and match["stem"] == stem_id:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed

    def sweep(self, now: float | None = None, own_max_age: float = OWN_FILES_MAX_AGE_SECONDS,
              any_max_age: float = ANY_FILE_MAX_AGE_SECONDS) -> SweepReport:
        """The Celery worker's policy: WaveFlow's own files after 30 minutes, anything in the area after 2 hours."""
        now = time.time() if now is None else now
        report = SweepReport()
        if not self.root.is_dir():
            return report
        for entry in os.scandir(self.root):
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            age = now - stat.st_mtime
            limit = own_max_age if OWN_FILE.match(entry.name) else any_max_age
            if age < limit:
                report.kept_young += 1
                continue
            if not _remove_unless_leased(Path(entry.path)):
                report.kept_in_use += 1
                continue
            report.removed_files += 1
            report.removed_bytes += stat.st_size
            report.removed.append(entry.name)
        return report


def _remove_unless_leased(path: Path) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(descriptor)
    return True


@contextlib.contextmanager
def no_space_is_retryable(path: Path) -> Iterator[None]:
    """A full disk is a retryable condition; what was half-written is removed so nothing partial survives."""
    try:
        yield
    except OSError as error:
        path.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise TempSpaceError(f"temp area {path.parent} is full: {error.strerror}") from None
        raise
