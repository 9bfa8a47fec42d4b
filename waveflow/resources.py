"""What this process may use: the container's cores (CPU quota and affinity) and memory limit, not the node's.

A pod asking for 500m on a 64-core node sees 64 in `os.cpu_count()`; sizing analyses and decode threads by that
runs 64 of them against half a core, and as many buffers against the pod's memory limit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
WORKER_BASE_BYTES = 192 * 1024 * 1024
"""A worker's own memory, idle or busy with I/O: the interpreter, Temporal's core, boto3, numpy (measured about
90 MiB idle, `tests/test_memory_limit.py`)."""
ANALYSIS_BYTES = 128 * 1024 * 1024
"""What one CPU-bound step adds: its decoding process and buffers (measured about 60 MiB for a long segmented
analysis or a 32-stem mix). The temp area's page cache is not counted: the kernel reclaims it under the limit."""


def available_cpus(cgroup_root: Path | None = None) -> int:
    """The least of the cores this process may run on and its cgroup's CPU quota, rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(cgroup_root or CGROUP_ROOT)
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def cgroup_cpu_quota(cgroup_root: Path) -> float | None:
    """Cores the cgroup may use (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`); None when
    unlimited or unknown."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def default_concurrent_analyses(cgroup_root: Path | None = None) -> int:
    """One CPU-bound step per core the container may use, as many as its memory limit holds; at least 1."""
    cpus = available_cpus(cgroup_root)
    limit = cgroup_memory_limit(cgroup_root or CGROUP_ROOT)
    if limit is None:
        return cpus
    return max(1, min(cpus, (limit - WORKER_BASE_BYTES) // ANALYSIS_BYTES))


def worker_memory_bytes(concurrent_analyses: int) -> int:
    """The memory limit a worker needs to run `concurrent_analyses` steps at once."""
    return WORKER_BASE_BYTES + concurrent_analyses * ANALYSIS_BYTES


def temp_volume_bytes(temp_budget_bytes: int) -> int:
    """The smallest temp volume (a Kubernetes emptyDir's sizeLimit) for a budget: every writer stays inside the
    budget; the 5% is for what it does not count (blocks a file's last bytes round up to, the health probe)."""
    return math.ceil(temp_budget_bytes * 1.05)


def cgroup_memory_limit(cgroup_root: Path) -> int | None:
    """The cgroup's memory limit in bytes (v2 `memory.max`, or v1 `memory.limit_in_bytes`); None when unlimited or
    unknown."""
    try:
        value = (cgroup_root / "memory.max").read_text().strip()
        return None if value == "max" else int(value)
    except (OSError, ValueError):
        pass
    try:
        limit = int((cgroup_root / "memory" / "memory.limit_in_bytes").read_text())
    except (OSError, ValueError):
        return None
    return None if limit >= 2**60 else limit  # v1 says "unlimited" with a number near 2**63
