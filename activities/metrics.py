"""WaveFlow's own metrics, exported through the SDK's meter beside its runtime metrics.

Names carry no `_total`: the worker's Prometheus exporter appends it to every counter (see worker.py).
"""

from __future__ import annotations

from temporalio import activity


def count(name: str, value: int, description: str, **labels: str) -> None:
    activity.metric_meter().create_counter(name, description).add(value, labels or None)


def observe(name: str, value: float, description: str, **labels: str) -> None:
    """One observation of a `_seconds` (or other ratio) histogram; buckets are set in worker.py."""
    activity.metric_meter().create_histogram_float(name, description).record(value, labels or None)
