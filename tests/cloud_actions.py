"""Temporal Cloud's billable actions, counted from a workflow history by the published rules (heartbeats and
queries leave no event, so they are not in it). The local activities one workflow task records count as one action
together, whatever their number and attempts; a retry that waits on a server timer pays for that timer."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from tests.history_steps import local_activity_type

ONE_EACH = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, EventType.EVENT_TYPE_TIMER_STARTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED}


def _is_version_only(event: HistoryEvent) -> bool:
    """The SDK's own `TemporalChangeVersion` upsert, made by `workflow.patched`, is not billed."""
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    return set(fields) == {"TemporalChangeVersion"}


def billable_actions(history: WorkflowHistory) -> int:
    actions = 0
    events = list(history.events)
    tasks_with_local_activities = {event.marker_recorded_event_attributes.workflow_task_completed_event_id
                                   for event in events if local_activity_type(event) is not None}
    actions += len(tasks_with_local_activities)
    for index, event in enumerate(events):
        kind = event.event_type
        if kind in ONE_EACH:
            actions += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += event.activity_task_started_event_attributes.attempt  # every attempt is started once
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES and not _is_version_only(event):
            actions += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            # Signal-with-start is one action in all: its signal lands right after the start.
            started_with_it = index == 1 and events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            actions += 0 if started_with_it else 1
    return actions
