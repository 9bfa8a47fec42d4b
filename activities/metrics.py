"""WaveFlow's own counters, exported through the SDK's meter beside its runtime metrics."""

from __future__ import annotations

from temporalio import activity


def count(name: str, value: int, description: str, **labels: str) -> None:
    activity.metric_meter().create_counter(name, description).add(value, labels or None)
