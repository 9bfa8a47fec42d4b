"""Every metric WaveFlow exports, in one place: the bridge's own registry, the worker's Prometheus exporter (the
SDK's meter, which carries WaveFlow's activity and workflow metrics beside the SDK's own), and the helpers that
record them. Names follow Prometheus conventions: counters end in `_total` (the worker's exporter appends it,
so the names given to the SDK's meter carry none), durations are `_seconds` histograms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import Enum as PrometheusEnum
from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from waveflow.settings import Settings

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
RATIO_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
HISTOGRAM_BUCKETS = {"waveflow_stem_duration_seconds": SECONDS_BUCKETS,
                     "waveflow_webhook_duration_seconds": SECONDS_BUCKETS,
                     "waveflow_analysis_seconds_per_audio_second": RATIO_BUCKETS}


def worker_runtime(settings: Settings) -> Runtime | None:
    """Prometheus conventions: counters end in `_total`, the SDK's durations are `_seconds` histograms."""
    if not settings.metrics_bind_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=settings.metrics_bind_address, counters_total_suffix=True, unit_suffix=True,
        durations_as_seconds=True, histogram_bucket_overrides=HISTOGRAM_BUCKETS)))


def count(name: str, value: int, description: str, **labels: str) -> None:
    """From an activity: add to a counter of the worker's exporter."""
    activity.metric_meter().create_counter(name, description).add(value, labels or None)


def observe(name: str, value: float, description: str, **labels: str) -> None:
    """From an activity: one observation of a `_seconds` (or other ratio) histogram, bucketed as HISTOGRAM_BUCKETS
    says."""
    activity.metric_meter().create_histogram_float(name, description).record(value, labels or None)


def stem_completed(status: str, ending: str, seconds: float) -> None:
    """From the stem workflow, once its completion was delivered (the meter skips replays)."""
    meter = workflow.metric_meter()
    meter.create_counter("waveflow_stems_completed", "Stems that ended, by outcome").add(
        1, {"outcome": status.lower()})
    meter.create_histogram_float(
        "waveflow_stem_duration_seconds", "From a stem's start to its delivered completion, by how it ended"
    ).record(seconds, {"outcome": ending})


def temp_disk_gauges(meter: MetricMeter, budget_bytes: int) -> Callable[[int], None]:
    """The worker's temp area: its budget once, and a setter for the bytes in use (reserved or on disk)."""
    meter.create_gauge("waveflow_temp_disk_budget_bytes", "TEMP_BUDGET_MB of this host, in bytes").set(budget_bytes)
    used = meter.create_gauge("waveflow_temp_disk_used_bytes",
                              "Temp disk this host's reservations and files take now, in bytes")
    return used.set


def mix_completed(status: str) -> None:
    """From the mix workflow, once its webhook was delivered."""
    workflow.metric_meter().create_counter("waveflow_mixes_completed", "Mixdowns that ended, by outcome").add(
        1, {"outcome": status.lower()})


class BridgeMetrics:
    """The bridge's own Prometheus metrics, served on its health address."""

    def __init__(self, states: list[str]) -> None:
        self.registry = CollectorRegistry()
        self.state = PrometheusEnum("waveflow_bridge_state", "What the bridge is doing now", states=states,
                                    registry=self.registry)
        self.received = Counter("waveflow_bridge_messages_received", "SQS messages received",
                                registry=self.registry)
        self.redelivered = Counter("waveflow_bridge_messages_redelivered",
                                   "SQS messages received again (ApproximateReceiveCount above 1)",
                                   registry=self.registry)
        self.handed_over = Counter("waveflow_bridge_messages_handed_over",
                                   "Messages Temporal accepted (start or signal), by task", ["task"],
                                   registry=self.registry)
        self.poison = Counter("waveflow_bridge_messages_poison",
                              "Poison messages, by outcome (dead_lettered, left_for_redrive)", ["outcome"],
                              registry=self.registry)
        self.released = Counter("waveflow_bridge_messages_released",
                                "Messages made visible again because Temporal could not take them, by reason",
                                ["reason"], registry=self.registry)
        self.pauses = Counter("waveflow_bridge_pauses", "Times the bridge stopped receiving, by reason", ["reason"],
                              registry=self.registry)
        self.handover_seconds = Histogram("waveflow_bridge_handover_seconds",
                                          "Time from a message's receipt to Temporal's acceptance",
                                          registry=self.registry)
        self.oldest_message_age = Gauge("waveflow_bridge_oldest_message_age_seconds",
                                        "Age (since SQS accepted it) of the oldest message in the last batch "
                                        "received; 0 after an empty receive", registry=self.registry)
        self.dead_letter_depth = Gauge("waveflow_bridge_dead_letter_queue_messages",
                                       "Messages in SQS_DLQ_URL (ApproximateNumberOfMessages), read at each scrape; "
                                       "NaN when unknown", registry=self.registry)

    def watch_dead_letter_queue(self, sqs: Any, dlq_url: str) -> None:
        def depth() -> float:
            try:
                attributes = sqs.get_queue_attributes(QueueUrl=dlq_url,
                                                      AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            except (BotoCoreError, ClientError):
                return math.nan
            return float(attributes["ApproximateNumberOfMessages"])

        self.dead_letter_depth.set_function(depth)
