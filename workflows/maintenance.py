"""Operations as workflows an operator starts with the `temporal` CLI or a Schedule runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from waveflow.messages import ParsedMessage
    from waveflow.models import CleanupReport, HealthReport, HostSweep
    from waveflow.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

HOST_PICKUP_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="CleanupTempFilesWorkflow")
class CleanupTempFilesWorkflow:
    """Sweeps the temp area of every live worker host, each on its own host queue."""

    @workflow.run
    async def run(self) -> CleanupReport:
        hosts = await workflow.execute_activity_method(
            MaintenanceActivities.list_worker_hosts, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5))
        sweeps = await asyncio.gather(*(self._sweep(host) for host in hosts))
        done = [sweep for sweep in sweeps if sweep is not None]
        return CleanupReport(hosts=done, unreachable_hosts=[host for host, sweep in zip(hosts, sweeps, strict=True)
                                                            if sweep is None],
                             removed_files=sum(sweep.removed_files for sweep in done),
                             removed_bytes=sum(sweep.removed_bytes for sweep in done))

    async def _sweep(self, host_task_queue: str) -> HostSweep | None:
        try:
            return await workflow.execute_activity_method(
                MaintenanceActivities.sweep_temp_area, task_queue=host_task_queue,
                schedule_to_start_timeout=HOST_PICKUP_TIMEOUT, start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=3))
        except ActivityError:
            workflow.logger.warning("host %s did not sweep", host_task_queue)
            return None


@workflow.defn(name="HealthCheckWorkflow")
class HealthCheckWorkflow:
    """S3, SQS, the webhook server and the temp area, as one structured report."""

    @workflow.run
    async def run(self) -> HealthReport:
        return await workflow.execute_activity_method(
            MaintenanceActivities.check_health, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1))


async def start_cleanup(client: Client, settings: Settings, parsed: ParsedMessage,
                        task_id: str) -> WorkflowHandle[Any, Any] | None:
    """`cleanup_temp_files`, as `celery call` started it: `cleanup-<message id>`, once per message."""
    return await _start_once(client, settings, CleanupTempFilesWorkflow.run, f"cleanup-{task_id}")


async def start_health_check(client: Client, settings: Settings, parsed: ParsedMessage,
                             task_id: str) -> WorkflowHandle[Any, Any] | None:
    """`health_check`: `health-<message id>`, once per message."""
    return await _start_once(client, settings, HealthCheckWorkflow.run, f"health-{task_id}")


async def _start_once(client: Client, settings: Settings, run: Any, workflow_id: str,
                      ) -> WorkflowHandle[Any, Any] | None:
    try:
        return await client.start_workflow(
            run, id=workflow_id, task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, rpc_timeout=settings.temporal_rpc_timeout)
    except WorkflowAlreadyStartedError:
        return None
