"""The chaos runner's short lane: a new seed each run (printed; `CHAOS_SEED` repeats one), and proof it bites."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import plan, run

pytestmark = pytest.mark.xdist_group("chaos")  # one chaos run at a time, each needs the cores


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Path]:
    """The work directory of a run that brings up its own stack (the name puts the test in the stack tier)."""
    yield tmp_path


def test_one_seed_gives_one_workload_and_one_fault_schedule() -> None:
    assert plan(41, 3.0) == plan(41, 3.0)
    assert plan(41, 3.0) != plan(42, 3.0)


@pytest.mark.long
@pytest.mark.timeout(900)
def test_a_short_chaos_run_keeps_every_invariant(chaos: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    violations = run(seed, 2.0, chaos)
    assert violations == [], f"chaos seed {seed} (CHAOS_SEED={seed} repeats it): {violations}"


@pytest.mark.long
@pytest.mark.timeout(900)
def test_the_runner_finds_a_bridge_that_acknowledges_before_temporal_has_the_message(chaos: Path) -> None:
    """The defect drops hash requests and decisions alike: stems end without their outcome, or with none."""
    violations = run(17, 1.0, chaos, bridge_script="tests.defective_bridge")
    assert any(", expected [" in violation for violation in violations), violations
