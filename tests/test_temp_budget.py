"""The temp area's disk budget: reserved before writing, waited for, refused when it can never fit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from waveflow.errors import TempBudgetExceededError, TempSpaceError
from waveflow.tempfiles import TempArea

MB = 1024 * 1024


def area(tmp_path: Path, budget_mb: int = 10, wait: float = 5.0) -> TempArea:
    return TempArea(tmp_path / "temp", budget_mb * MB, admission_wait_seconds=wait)


def test_reservations_and_loose_files_count_until_removed(tmp_path: Path) -> None:
    temp = area(tmp_path)
    waiting = temp.new_path("a", "audio")
    waiting.write_bytes(b"\0" * (3 * MB))
    assert temp.used_bytes() == 3 * MB, "a download waiting for its decision counts from the disk"
    writing = temp.new_path("b", "audio")
    with temp.reserve("b", 4 * MB, [writing], "b"):
        writing.write_bytes(b"\0" * MB)
        assert temp.used_bytes() == 7 * MB, "a reservation counts in full while its file grows"
    assert temp.used_bytes() == 4 * MB, "once it ends, what it wrote counts from the disk"
    waiting.unlink()
    writing.unlink()
    assert temp.used_bytes() == 0


def test_one_owner_over_the_whole_budget_is_refused_at_once(tmp_path: Path) -> None:
    temp = area(tmp_path)
    temp.new_path("mix-1", "audio").write_bytes(b"\0" * (6 * MB))
    started = time.monotonic()
    with pytest.raises(TempBudgetExceededError) as refused, temp.reserve("mix-1", 5 * MB, [], "the mix"):
        pytest.fail("admitted")
    assert time.monotonic() - started < 1
    assert str(refused.value) == ("the mix needs 11.0 MB of a worker host's temp disk (with the files already there "
                                  "for it), 1.0 MB more than its budget of 10.0 MB (TEMP_BUDGET_MB)")
    with temp.reserve("other", 4 * MB, [], "another stem"):
        pass


def test_a_full_budget_waits_for_a_reservation_to_end(tmp_path: Path) -> None:
    temp = area(tmp_path)
    waited: list[float] = []
    admitted = threading.Event()

    def second() -> None:
        with temp.reserve("b", 6 * MB, [], "b", waited.append):
            admitted.set()

    with temp.reserve("a", 6 * MB, [], "a"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not admitted.wait(1.5)
    assert admitted.wait(2)
    thread.join()
    assert waited, "the waiting step was told, to heartbeat"


def test_a_file_removed_outside_any_reservation_makes_room(tmp_path: Path) -> None:
    temp = area(tmp_path)
    decided = temp.new_path("a", "audio")
    decided.write_bytes(b"\0" * (8 * MB))
    threading.Timer(0.5, decided.unlink).start()
    started = time.monotonic()
    with temp.reserve("b", 4 * MB, [], "b"):
        assert 0.4 < time.monotonic() - started < 3


def test_no_room_within_the_wait_is_a_retryable_error(tmp_path: Path) -> None:
    temp = area(tmp_path, wait=1.0)
    with temp.reserve("a", 8 * MB, [], "a"), pytest.raises(TempSpaceError, match=r"waited 1 s for 4\.0 MB"), \
            temp.reserve("b", 4 * MB, [], "the download of 'b.wav'"):
        pytest.fail("admitted")


def test_a_step_that_cannot_wait_is_refused_at_once(tmp_path: Path) -> None:
    """The local download, in a workflow task, leaves an object with no room now to the download activity."""
    temp = area(tmp_path, wait=5.0)
    started = time.monotonic()
    with temp.reserve("a", 8 * MB, [], "a"), pytest.raises(TempSpaceError, match=r"4\.0 MB"), \
            temp.reserve("b", 4 * MB, [], "b", wait=False):
        pytest.fail("admitted")
    assert time.monotonic() - started < 1


def test_the_disk_itself_smaller_than_the_budget_is_waited_for(tmp_path: Path) -> None:
    """A budget larger than the volume: the free space is checked too, so nothing is written into a full disk."""
    temp = TempArea(tmp_path / "temp", 1 << 60, admission_wait_seconds=0.5)
    with pytest.raises(TempSpaceError, match="short"), temp.reserve("a", 1 << 59, [], "a"):
        pytest.fail("admitted")


def test_no_budget_admits_everything(tmp_path: Path) -> None:
    with TempArea(tmp_path).reserve("a", 1 << 60, [], "a"):
        pass
