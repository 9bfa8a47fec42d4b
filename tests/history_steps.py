"""The steps a workflow history records: activities from their scheduled events, local activities from their
markers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal

from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"

Step = tuple[str, Literal["activity", "local"]]


def local_activity_type(event: HistoryEvent) -> str | None:
    """The activity type a local-activity marker records, or None for any other event."""
    if not event.HasField("marker_recorded_event_attributes"):
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    return str(json.loads(marker.details["data"].payloads[0].data)["activity_type"])


def local_activity_result(event: HistoryEvent) -> object:
    """What a local activity returned, as the JSON its marker records (None for a failed one)."""
    payloads = event.marker_recorded_event_attributes.details["result"].payloads
    return json.loads(payloads[0].data) if payloads else None


def steps_of(events: Iterable[HistoryEvent]) -> list[Step]:
    steps: list[Step] = []
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            steps.append((event.activity_task_scheduled_event_attributes.activity_type.name, "activity"))
        elif (local := local_activity_type(event)) is not None:
            steps.append((local, "local"))
    return steps
