"""Concurrency follows the container's CPU quota, not the node's core count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from waveflow.cpus import available_cpus, cgroup_cpu_quota
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
    monkeypatch.setattr("waveflow.cpus.CGROUP_ROOT", cgroup_v2(tmp_path, "50000 100000"))
    settings = Settings(s3_bucket_name="bucket", webhook_url="http://127.0.0.1:9/webhook", metrics_bind_address="")
    assert settings.max_concurrent_analyses == 1
