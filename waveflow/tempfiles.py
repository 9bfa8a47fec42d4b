"""WaveFlow's temp area on one host: named files, leases while in use, a disk budget every writer reserves against,
and the Celery worker's age-based sweep."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from waveflow.errors import TempBudgetExceededError, TempSpaceError
from waveflow.models import SweepReport

FILE_PREFIX = "waveflow-"
OWN_FILE = re.compile(r"^waveflow-stem-(?P<stem>[A-Za-z0-9][A-Za-z0-9._-]{0,127})-[0-9a-f]{8}\.[a-z0-9]+$")
OWN_FILES_MAX_AGE_SECONDS = 30 * 60
ANY_FILE_MAX_AGE_SECONDS = 2 * 60 * 60


@dataclass(frozen=True, eq=False)
class _Reservation:
    owner: str
    nbytes: int
    names: frozenset[str]


class TempArea:
    """`budget_bytes`: what the area may hold at once (None: no budget). A writer reserves what it will write before
    its first byte (`reserve`); a file that outlives its reservation (a download waiting for its decision) counts
    from the disk until it is removed."""

    def __init__(self, root: Path, budget_bytes: int | None = None, admission_wait_seconds: float = 60.0) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        self._admission_wait_seconds = admission_wait_seconds
        self._reservations: list[_Reservation] = []
        self._changed = threading.Condition()

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

    @contextlib.contextmanager
    def reserve(self, owner: str, nbytes: int, paths: Sequence[Path], what: str,
                waiting: Callable[[float], None] = lambda waited: None, wait: bool = True) -> Iterator[None]:
        """Holds `nbytes` of the budget for `paths`, which `owner` (a stem or mix id) is about to write. An owner
        needing more than the whole budget is refused at once (`TempBudgetExceededError`); otherwise this waits,
        calling `waiting(seconds waited)` about once a second, until the budget and the disk have room, and after
        `admission_wait_seconds` (at once when not `wait`) gives up with the retryable `TempSpaceError`."""
        if self.budget_bytes is None:
            yield
            return
        reservation = _Reservation(owner, nbytes, frozenset(path.name for path in paths))
        started = time.monotonic()
        patience = self._admission_wait_seconds if wait else 0.0
        while not self._admitted(reservation, what, time.monotonic() - started, patience):
            waiting(time.monotonic() - started)
        try:
            yield
        finally:
            with self._changed:
                self._reservations.remove(reservation)
                self._changed.notify_all()

    def used_bytes(self) -> int:
        """Reserved bytes, and the bytes of files no reservation holds."""
        with self._changed:
            return self._used_bytes(self._file_sizes())

    def _admitted(self, reservation: _Reservation, what: str, waited: float, patience: float) -> bool:
        """Takes the reservation if there is room now, else waits up to a second for a reservation to end."""
        assert self.budget_bytes is not None
        with self._changed:
            sizes = self._file_sizes()
            needed = self._used_bytes(sizes, reservation.owner) + reservation.nbytes
            if needed > self.budget_bytes:
                raise TempBudgetExceededError(
                    f"{what} needs {_mb(needed)} of a worker host's temp disk (with the files already there for "
                    f"it), {_mb(needed - self.budget_bytes)} more than its budget of {_mb(self.budget_bytes)} "
                    "(TEMP_BUDGET_MB)")
            over_budget = self._used_bytes(sizes) + reservation.nbytes - self.budget_bytes
            unwritten = sum(max(0, item.nbytes - _written(item, sizes)) for item in self._reservations)
            disk = os.statvfs(self.root)
            over_disk = unwritten + reservation.nbytes - disk.f_bavail * disk.f_frsize
            shortfall = max(over_budget, over_disk)
            if shortfall <= 0:
                self._reservations.append(reservation)
                return True
            if waited >= patience:
                raise TempSpaceError(f"{what} waited {waited:.0f} s for {_mb(reservation.nbytes)} of temp disk in "
                                     f"{self.root}: {_mb(shortfall)} short")
            # Files removed outside a reservation (a decision's cleanup, the sweep) notify nobody: look again soon.
            self._changed.wait(min(1.0, patience - waited))
            return False

    def _used_bytes(self, sizes: dict[str, int], owner: str | None = None) -> int:
        """Of every owner, or of one: reservations at their size or what they wrote, whichever is more, and files
        no reservation holds."""
        mine = [item for item in self._reservations if owner in (None, item.owner)]
        held = {name for item in self._reservations for name in item.names}
        loose = sum(size for name, size in sizes.items()
                    if name not in held and (owner is None or _owner_of(name) == owner))
        return loose + sum(max(item.nbytes, _written(item, sizes)) for item in mine)

    def _file_sizes(self) -> dict[str, int]:
        self.ensure()
        sizes = {}
        for entry in os.scandir(self.root):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    sizes[entry.name] = entry.stat(follow_symlinks=False).st_size
        return sizes

    def stem_ids(self) -> set[str]:
        """The stems (and mixes) with a file here."""
        if not self.root.is_dir():
            return set()
        return {match["stem"] for path in self.root.iterdir() if (match := OWN_FILE.match(path.name))}

    def remove_stem_files(self, stem_id: str, *, keep_leased: bool = False) -> list[str]:
        """`keep_leased`: for a stem no run owns any more, whose id a new run may take at any moment."""
        removed = []
        for path in self.root.glob(f"{FILE_PREFIX}stem-{stem_id}-*"):
            match = OWN_FILE.match(path.name)
            if not match or match["stem"] != stem_id:
                continue
            if keep_leased:
                if not _remove_unless_leased(path):
                    continue
            else:
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


def _written(reservation: _Reservation, sizes: dict[str, int]) -> int:
    return sum(sizes.get(name, 0) for name in reservation.names)


def _owner_of(name: str) -> str | None:
    match = OWN_FILE.match(name)
    return match["stem"] if match else None


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1048576:.1f} MB"


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
