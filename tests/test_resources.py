"""Concurrency follows the container's CPU quota and memory limit, not the node's cores and memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from waveflow.resources import (
    available_cpus,
    cgroup_cpu_quota,
    cgroup_memory_limit,
    default_concurrent_analyses,
    worker_memory_bytes,
)
from waveflow.settings import Settings

CORES = len(os.sched_getaffinity(0))


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    return root


def cgroup_v1(root: Path, quota_us: int, period_us: int) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period_us}\n")
    return root


@pytest.mark.parametrize(("cpu_max", "quota"), [("50000 100000", 0.5), ("150000 100000", 1.5), ("max 100000", None)])
def test_the_cgroup_v2_quota_is_read(tmp_path: Path, cpu_max: str, quota: float | None) -> None:
    assert cgroup_cpu_quota(cgroup_v2(tmp_path, cpu_max)) == quota


def test_the_cgroup_v1_quota_is_read_and_minus_one_is_unlimited(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(cgroup_v1(tmp_path / "limited", 250000, 100000)) == 2.5
    assert cgroup_cpu_quota(cgroup_v1(tmp_path / "unlimited", -1, 100000)) is None
    assert cgroup_cpu_quota(tmp_path / "no-cgroup") is None


def test_half_a_core_on_a_big_node_is_one_analysis_at_a_time(tmp_path: Path) -> None:
    assert available_cpus(cgroup_v2(tmp_path, "50000 100000")) == 1


def test_a_quota_above_the_cores_is_capped_by_them(tmp_path: Path) -> None:
    assert available_cpus(cgroup_v2(tmp_path, f"{(CORES + 8) * 100000} 100000")) == CORES


def test_the_default_concurrency_is_the_containers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("waveflow.resources.CGROUP_ROOT", cgroup_v2(tmp_path, "50000 100000"))
    settings = Settings(s3_bucket_name="bucket", webhook_url="http://127.0.0.1:9/webhook", metrics_bind_address="")
    assert settings.max_concurrent_analyses == 1


MIB = 1024 * 1024


def memory_v2(root: Path, memory_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "memory.max").write_text(f"{memory_max}\n")
    return root


def test_the_memory_limit_is_read_from_either_cgroup_version(tmp_path: Path) -> None:
    assert cgroup_memory_limit(memory_v2(tmp_path / "v2", str(512 * MIB))) == 512 * MIB
    assert cgroup_memory_limit(memory_v2(tmp_path / "v2-unlimited", "max")) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_memory_limit(v1.parent) is None
    (v1 / "memory.limit_in_bytes").write_text(f"{1024 * MIB}\n")
    assert cgroup_memory_limit(v1.parent) == 1024 * MIB
    assert cgroup_memory_limit(tmp_path / "no-cgroup") is None


def test_half_a_core_and_512_mib_on_a_big_node_is_one_step_at_a_time(tmp_path: Path) -> None:
    root = memory_v2(cgroup_v2(tmp_path, "50000 100000"), str(512 * MIB))
    assert default_concurrent_analyses(root) == 1


def test_the_memory_limit_caps_the_cores(tmp_path: Path) -> None:
    """Eight cores but memory for three steps: three; a limit below one step's need still runs one."""
    eight_cores = f"{8 * 100000} 100000"
    assert default_concurrent_analyses(memory_v2(cgroup_v2(tmp_path / "a", eight_cores),
                                                 str(worker_memory_bytes(3)))) == min(3, CORES)
    assert default_concurrent_analyses(memory_v2(cgroup_v2(tmp_path / "b", eight_cores), str(100 * MIB))) == 1
    assert default_concurrent_analyses(memory_v2(cgroup_v2(tmp_path / "c", eight_cores), "max")) == CORES
