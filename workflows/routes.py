"""Which workflow serves each task an SQS message names, and how it is started: the bridge looks the task up here
and knows no workflow. Adding a task is a workflow module exporting its start, and one entry below."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle

from waveflow.messages import ParsedMessage, Task
from waveflow.settings import Settings
from workflows.maintenance import start_cleanup, start_health_check
from workflows.mix_stems import start_mix
from workflows.stem_ingest import decide_running_stem, start_stem

Start = Callable[[Client, Settings, ParsedMessage, str], Awaitable[WorkflowHandle[Any, Any] | None]]
"""Starts or signals the workflow for a parsed message and its task id (the producer's message id, else SQS's);
None when the message asks for nothing new (a redelivery of one already served)."""

ROUTES: dict[Task, Start] = {
    Task.GENERATE_HASH: start_stem,
    Task.PROCESS_DUPLICATE: start_stem,
    Task.PROCESS_ANALYSIS: start_stem,
    Task.MIX_STEMS: start_mix,
    Task.CLEANUP_TEMP_FILES: start_cleanup,
    Task.HEALTH_CHECK: start_health_check,
}

JOINS: dict[Task, Start] = {
    Task.PROCESS_DUPLICATE: decide_running_stem,
    Task.PROCESS_ANALYSIS: decide_running_stem,
}
"""Tasks whose message usually goes to a workflow already running, tried before anything else (the bridge's
lookups, the route's start); None when none runs, and the message takes its route."""
