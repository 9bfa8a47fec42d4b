"""The steps every WaveFlow workflow takes the same way: running an activity with its failure made readable,
delivering a webhook under its idempotency key, removing a host's temp files, reporting the phase."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn, Protocol

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.temp import TempActivities
    from activities.webhooks import WebhookActivities
    from waveflow.contract import FailureResult, WebhookKind
    from waveflow.errors import ErrorCode
    from waveflow.models import WebhookDelivery
    from workflows.search_attributes import PHASE

IO_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=60))
WEBHOOK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(minutes=10))
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
WEBHOOK_LEAVES_LOCAL_RETRIES = "webhook-leaves-local-retries"
"""Patch: a local webhook still failing after its local budget is retried as a regular activity (before, it was
retried locally for the whole horizon)."""
STEP_DEADLINE = timedelta(hours=1)
HOST_PICKUP_TIMEOUT = timedelta(minutes=1)
ANALYSIS_HEARTBEAT = timedelta(seconds=10)
DOWNLOAD_HEARTBEAT = timedelta(seconds=15)
SHORT_STEP = timedelta(seconds=60)
LOCAL_DOWNLOAD_LIMIT = timedelta(seconds=20)
"""A small object's download in a workflow task: S3 serves a few MB in well under a second; past this, the download
activity takes over."""
LOCAL_ANALYSIS_LIMIT = timedelta(seconds=60)
"""A small object's analysis in a workflow task: a few MB decode in a second or two, waiting for a core slot
included; past this, the analysis activity takes over."""
WAITED = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
"""For steps that write: a cancelled run ends only once they stopped, so nothing is written after its end."""


class StepFailedError(Exception):
    """A step failed for good; `failure` is what the completion webhook says."""

    def __init__(self, failure: FailureResult) -> None:
        super().__init__(failure.error)
        self.failure = failure


def fail_run(failure: FailureResult) -> NoReturn:
    """Ends the run Failed (red in the UI, found by `ExecutionStatus='Failed'`, re-runnable), typed by its code."""
    raise ApplicationError(failure.error, type=failure.error_code, non_retryable=True)


async def run_activity(method: Callable[..., Any], argument: BaseModel | str | None, *,
                       task_queue: str | None = None, schedule_to_start_timeout: timedelta | None = None,
                       schedule_to_close_timeout: timedelta = STEP_DEADLINE,
                       start_to_close_timeout: timedelta | None = None, heartbeat_timeout: timedelta | None = None,
                       retry_policy: RetryPolicy = IO_RETRY, summary: str | None = None,
                       cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
                       local: bool = False) -> Any:
    """Runs one activity; a failure it cannot recover from becomes a StepFailedError with a readable reason, a
    cancellation an asyncio.CancelledError.

    `local` runs it in this worker's workflow task (no task queue, host or heartbeat): for short steps only."""
    arguments = [] if argument is None else [argument]
    options: dict[str, Any] = dict(
        schedule_to_close_timeout=schedule_to_close_timeout,
        start_to_close_timeout=start_to_close_timeout or schedule_to_close_timeout,
        retry_policy=retry_policy, summary=summary, cancellation_type=cancellation_type)
    try:
        if local:
            return await workflow.execute_local_activity_method(method, *arguments, **options)
        return await workflow.execute_activity_method(
            method, *arguments, task_queue=task_queue, schedule_to_start_timeout=schedule_to_start_timeout,
            heartbeat_timeout=heartbeat_timeout, **options)
    except ActivityError as error:
        cause: BaseException | None = error.cause
    except (ApplicationError, TimeoutError, CancelledError) as error:
        if not local:
            raise
        cause = error  # a local activity's failure reaches the workflow without the ActivityError around it
    if isinstance(cause, CancelledError):
        raise asyncio.CancelledError(cause.message)
    raise StepFailedError(failure_of(cause))


async def deliver_webhook(kind: WebhookKind, body: dict[str, object], *, timeout_seconds: float,
                          retry_horizon_seconds: float, local_budget: timedelta | None = None) -> None:
    """POSTs one webhook, retried until the horizon under one idempotency key for this run and kind.

    `local_budget`: try it first as a local activity, for that long; then as a regular activity, so that a server
    that is down costs no timer, marker and workflow task per retry, and holds no signal or update back."""
    delivery = WebhookDelivery(kind=kind, body=body, idempotency_key=idempotency_key(kind))
    # One attempt is one POST bounded by the HTTP timeout; a lost worker is noticed soon after.
    options: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=2 * timeout_seconds + 5),
                                   summary=f"{kind.value} webhook", retry_policy=WEBHOOK_RETRY)
    horizon = timedelta(seconds=retry_horizon_seconds)
    if local_budget is not None and horizon > local_budget:
        started = workflow.now()
        # A local activity's retries are bounded by attempts: its schedule-to-close does not stop them.
        local_retries = dataclasses.replace(WEBHOOK_RETRY,
                                            maximum_attempts=attempts_within(local_budget, WEBHOOK_RETRY))
        # Each local attempt is bounded by the budget too: a server that hangs must not hold the workflow task.
        local_options = {**options, "retry_policy": local_retries, "start_to_close_timeout": local_budget}
        try:
            await run_activity(WebhookActivities.send_webhook, delivery, schedule_to_close_timeout=horizon,
                               local=True, **local_options)
            return
        except StepFailedError as failed:
            if failed.failure.error_code == ErrorCode.WEBHOOK_REJECTED or not workflow.patched(
                    WEBHOOK_LEAVES_LOCAL_RETRIES):
                raise
        workflow.logger.info("%s webhook still failing after %s; retried as an activity until the horizon",
                             kind.value, workflow.now() - started)
        horizon = max(horizon - (workflow.now() - started), local_budget)
    elif local_budget is not None:
        options["local"] = True
    await run_activity(WebhookActivities.send_webhook, delivery, schedule_to_close_timeout=horizon, **options)


def idempotency_key(kind: WebhookKind) -> str:
    """The `webhook-id` of this run's webhook of `kind`: the same for every attempt, wherever it is sent from."""
    info = workflow.info()
    return f"{info.workflow_id}:{info.run_id}:{kind.value}"


def attempts_within(budget: timedelta, policy: RetryPolicy) -> int:
    """How many attempts `policy` makes before its backoffs add up to more than `budget` (attempts taking no time)."""
    attempts, waited, interval = 1, timedelta(0), policy.initial_interval
    while interval > timedelta(0) and waited + interval <= budget:
        waited += interval
        interval *= policy.backoff_coefficient
        if policy.maximum_interval is not None:
            interval = min(interval, policy.maximum_interval)
        attempts += 1
    return attempts


class WebhookPolicy(Protocol):
    webhook_timeout_seconds: float
    webhook_retry_horizon_seconds: float


class RunStatus(Protocol):
    """What a workflow's `status` query returns: its phase and, once it failed, the failure."""

    phase: Any
    error: FailureResult | None


async def deliver_outcome(kind: WebhookKind, body: dict[str, object], policy: WebhookPolicy, status: RunStatus,
                          failed_phase: Any, *, search_attributes: bool = False,
                          local_budget: timedelta | None = None,
                          on_refused: Callable[[], None] | None = None, refusal: str | None = None) -> None:
    """The webhook that says how a run ended. It is sent even when the run is cancelled while sending it (the
    work is over either way: the server must still hear how it ended); when it cannot be delivered, the run
    ends Failed with the delivery's failure, unless `on_refused` ends it another way (continues it as new).
    `local_budget` as for `deliver_webhook`. `refusal`: the server's final refusal of this body, met by the step
    that sent it with its work: the run ends as after a refusal of its own."""
    options: dict[str, Any] = dict(timeout_seconds=policy.webhook_timeout_seconds,
                                   retry_horizon_seconds=policy.webhook_retry_horizon_seconds,
                                   local_budget=local_budget)
    try:
        if refusal is not None:
            raise StepFailedError(FailureResult(error=refusal, error_code=ErrorCode.WEBHOOK_REJECTED))
        try:
            await deliver_webhook(kind, body, **options)
        except asyncio.CancelledError:
            await deliver_webhook(kind, body, **options)
    except StepFailedError as failed:
        status.error = failed.failure
        enter_phase(status, failed_phase, search_attributes=search_attributes)
        if on_refused is not None:
            on_refused()
        fail_run(failed.failure)


async def remove_temp_files(temp_id: str, host_task_queue: str, what: str) -> None:
    """On the host that holds them; a host that is gone leaves them to its periodic sweep."""
    try:
        await workflow.execute_activity_method(TempActivities.remove_stem_files, temp_id, task_queue=host_task_queue,
                                               schedule_to_start_timeout=HOST_PICKUP_TIMEOUT,
                                               start_to_close_timeout=timedelta(seconds=30),
                                               retry_policy=RetryPolicy(maximum_attempts=3),
                                               summary=f"remove this {what}'s temp files")
    except ActivityError:
        workflow.logger.warning("temp files of %s stay for the periodic sweep on %s", temp_id, host_task_queue)


def enter_phase(status: RunStatus, phase: Any, *, search_attributes: bool = False) -> None:
    """The phase in the `status` query, the UI's current details and, when on, the WaveFlowStage attribute."""
    status.phase = phase
    workflow.set_current_details(f"**Phase:** {phase.value}")
    if search_attributes:
        workflow.upsert_search_attributes([PHASE.value_set(phase.value)])


def failure_of(cause: BaseException | None) -> FailureResult:
    """A readable failure from what made an activity fail (ActivityError.cause)."""
    if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
        return FailureResult(error="the host holding the file did not pick up the step",
                             error_code=ErrorCode.HOST_UNAVAILABLE)
    if isinstance(cause, TimeoutError):
        last = cause.cause.message if isinstance(cause.cause, ApplicationError) else "no answer"
        return FailureResult(error=f"gave up after retrying until the step's deadline; last error: {last}",
                             error_code=ErrorCode.TIMEOUT)
    if isinstance(cause, ApplicationError):
        code = cause.type if cause.non_retryable and cause.type else ErrorCode.PROCESSING_FAILED
        return FailureResult(error=cause.message, error_code=code)
    return FailureResult(error=str(cause or "the step failed without a reason"), error_code=ErrorCode.PROCESSING_FAILED)
