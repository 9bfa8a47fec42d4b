"""The WaveFlow worker: stem workflows and their activities, on the shared queue and on this host's own queue.

Run: `python worker.py` (or `waveflow-worker`). SIGTERM or SIGINT finishes running activities, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.audio import AudioActivities
from activities.aws_access import make_s3_client, make_sqs_client
from activities.heartbeats import CpuSlots
from activities.maintenance import MaintenanceActivities
from activities.mixing import MixingActivities
from activities.s3 import S3Activities
from activities.small_stems import SmallStemActivities
from activities.temp import TempActivities
from activities.webhooks import WebhookActivities, webhook_connections
from metrics import temp_disk_gauges, worker_runtime
from payload_visits import skip_idle_payload_walks
from temporal_client import (
    NamespaceNotReadyError,
    check_reachable,
    check_search_attributes,
    connect,
    describe_error,
    trouble_of,
)
from waveflow.health import HealthServer, Verdict
from waveflow.logs import configure_logging
from waveflow.settings import Settings, load_settings
from waveflow.tempfiles import TempArea
from waveflow.tracing import configure_tracing
from workflows.maintenance import CleanupTempFilesWorkflow, HealthCheckWorkflow
from workflows.mix_stems import MixStemsWorkflow
from workflows.stem_ingest import StemIngestWorkflow, tell_stems_about_their_host

log = logging.getLogger("waveflow.worker")
GRACEFUL_SHUTDOWN = timedelta(seconds=60)
HEALTH_PROBE_EVERY = timedelta(seconds=5)
TEMP_GAUGE_EVERY = timedelta(seconds=15)
CLEANUP_EVERY = timedelta(minutes=30)


def cleanup_schedule_id(settings: Settings) -> str:
    return f"{settings.temporal_task_queue}-cleanup-temp-files"


async def ensure_cleanup_schedule(client: Client, settings: Settings) -> None:
    """Creates the 30-minute cleanup schedule, or updates its spec and action; a pause set by an operator stays."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(CleanupTempFilesWorkflow.run, id=f"{settings.temporal_task_queue}-cleanup",
                                           task_queue=settings.temporal_task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=CLEANUP_EVERY)]))
    try:
        await client.create_schedule(cleanup_schedule_id(settings), schedule)
        log.info("created schedule %s", cleanup_schedule_id(settings))
    except ScheduleAlreadyRunningError:
        def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(cleanup_schedule_id(settings)).update(keep_state)
        log.info("updated schedule %s", cleanup_schedule_id(settings))


WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()
"""Without the SDK's sandbox: under load it took two fifths of the worker's CPU (the SDK enters it for every payload
it visits, several times per workflow task). The sandbox still checks determinism where it costs nothing: the tests
replay every recorded history and run the workflows' logic under it (`tests/determinism.py`)."""
WORKFLOWS: tuple[type, ...] = (StemIngestWorkflow, CleanupTempFilesWorkflow, HealthCheckWorkflow, MixStemsWorkflow)


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings,
                          workflows: Sequence[type] = WORKFLOWS) -> AsyncIterator[list[Worker]]:
    """Both of this host's workers, polling until the block exits; then a graceful shutdown."""
    skip_idle_payload_walks()
    temp_area = TempArea(settings.temp_dir, settings.temp_budget_bytes, settings.temp_admission_wait_seconds)
    temp_area.ensure()
    swept = temp_area.sweep()
    log.info("start-up sweep of %s removed %d files (%d bytes)", temp_area.root, swept.removed_files,
             swept.removed_bytes)
    s3 = make_s3_client(settings)
    s3_activities = S3Activities(settings, s3, temp_area)
    cpu = CpuSlots(settings.max_concurrent_analyses, settings.decoder_stall_seconds)
    warming = asyncio.create_task(asyncio.to_thread(cpu.warm))
    audio_activities = AudioActivities(s3_activities, temp_area, cpu)
    temp_activities = TempActivities(temp_area)
    mixing = MixingActivities(settings, s3_activities, s3, temp_area, cpu)
    # Both workers share the pool: a thread for every slot of each, so every activity started can run and heartbeat.
    executor = ThreadPoolExecutor(max_workers=2 * settings.max_concurrent_activities,
                                  thread_name_prefix="waveflow-activity")
    webhooks = webhook_connections(settings)
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as http:
        webhook_activities = WebhookActivities(settings, webhooks)
        small_stems = SmallStemActivities(s3_activities, audio_activities, webhook_activities)
        maintenance = MaintenanceActivities(settings, temp_area, s3, make_sqs_client(settings), http)
        host_activities = [audio_activities.analyse_audio, temp_activities.remove_stem_files, mixing.mix_and_upload]
        # The identity is the host queue: the cleanup finds every live host among the shared queue's pollers.
        shared = Worker(
            client, task_queue=settings.temporal_task_queue,
            workflows=workflows, workflow_runner=WORKFLOW_RUNNER,
            activities=[s3_activities.download_and_hash, s3_activities.download_small_and_hash,
                        s3_activities.delete_duplicate, s3_activities.record_success, webhook_activities.send_webhook,
                        small_stems.download_and_send_hash_check, small_stems.analyse_and_complete,
                        maintenance.list_worker_hosts, maintenance.check_health,
                        mixing.claim_host, mixing.discard_outputs, *host_activities],
            activity_executor=executor, max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, identity=settings.host_task_queue,
        )
        own_host = Worker(
            client, task_queue=settings.host_task_queue,
            activities=[*host_activities, maintenance.sweep_temp_area, s3_activities.download_and_hash],
            activity_executor=executor, max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, identity=settings.host_task_queue,
        )
        tasks = [asyncio.create_task(worker.run()) for worker in (shared, own_host)]
        gauging = asyncio.create_task(_gauge_temp_disk(client, temp_area, settings.temp_budget_bytes))
        try:
            yield [shared, own_host]
        finally:
            gauging.cancel()
            await asyncio.gather(shared.shutdown(), own_host.shutdown())
            await asyncio.gather(*tasks, warming, gauging, return_exceptions=True)
            executor.shutdown(wait=True)
            webhooks.clear()


async def tell_about_this_host(client: Client, settings: Settings, *, left: bool) -> int:
    """`tell_stems_about_their_host` for every stem with a file here. At start-up, the files of stems no run owns
    any more (they ended while this host was away) are removed at once rather than at the sweep. Returns how many
    running stems heard it."""
    temp_area = TempArea(settings.temp_dir)
    heard, ended = await tell_stems_about_their_host(client, settings, temp_area.stem_ids(), left=left)
    if left:
        return heard
    removed = [name for stem_id in sorted(ended) for name in temp_area.remove_stem_files(stem_id, keep_leased=True)]
    if removed:
        log.info("removed %d temp files of stems no run owns any more: %s", len(removed), removed)
    return heard


async def _gauge_temp_disk(client: Client, temp_area: TempArea, budget_bytes: int) -> None:
    runtime = client.service_client.config.runtime or Runtime.default()
    set_used = temp_disk_gauges(runtime.metric_meter, budget_bytes)
    while True:
        try:
            set_used(await asyncio.to_thread(temp_area.used_bytes))
        except OSError as error:  # the gauge keeps its last value; the next round tries again
            log.warning("could not measure the temp area %s: %s", temp_area.root, error)
        await asyncio.sleep(TEMP_GAUGE_EVERY.total_seconds())


class WorkerHealth:
    """Ready while both workers run and Temporal answered a recent probe; live while the workers and loop run."""

    def __init__(self, client: Client, workers: list[Worker], settings: Settings) -> None:
        self._client = client
        self._workers = workers
        self._timeout = settings.temporal_rpc_timeout
        self._last_tick = time.monotonic()
        self._last_answer = -math.inf
        self._trouble = "not probed yet"

    async def watch(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            try:
                await check_reachable(self._client, self._timeout)
                self._last_answer, self._trouble = time.monotonic(), ""
            except Exception as error:
                if trouble_of(error) is None:
                    raise
                self._trouble = f"Temporal: {describe_error(error)}"
            await asyncio.sleep(HEALTH_PROBE_EVERY.total_seconds())

    def _stopped_workers(self) -> list[str]:
        return [worker.task_queue for worker in self._workers if not worker.is_running]

    def liveness(self) -> Verdict:
        stopped = self._stopped_workers()
        idle = time.monotonic() - self._last_tick
        stalled = idle > 3 * HEALTH_PROBE_EVERY.total_seconds() + self._timeout.total_seconds()
        detail = f"workers stopped: {', '.join(stopped)}" if stopped else f"loop last turned {idle:.0f} s ago"
        return Verdict(not stopped and not stalled, "running" if not stopped else "stopped", detail)

    def readiness(self) -> Verdict:
        stopped = self._stopped_workers()
        if stopped:
            return Verdict(False, "stopped", f"workers stopped: {', '.join(stopped)}")
        recent = time.monotonic() - self._last_answer < 2 * HEALTH_PROBE_EVERY.total_seconds()
        return Verdict(recent, "polling" if recent else "temporal_unavailable", self._trouble)


async def serve(settings: Settings, workflows: Sequence[type] = WORKFLOWS) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for received in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(received, stop.set)
    if settings.webhook_secret is None:
        log.warning("WEBHOOK_SECRET is not set: webhooks go out unsigned, so the server cannot tell them from "
                    "forged ones; make a secret with `python -c 'import waveflow.signing as s; print(s.new_secret())'`"
                    " and give it to both sides")
    client = await connect(worker_runtime(settings))
    if settings.temporal_search_attributes:
        try:
            await check_search_attributes(client, settings.temporal_rpc_timeout)
        except NamespaceNotReadyError as error:
            raise SystemExit(f"waveflow: {error}") from None
    await ensure_cleanup_schedule(client, settings)
    async with running_workers(client, settings, workflows) as workers:
        kept = await tell_about_this_host(client, settings, left=False)
        if kept:
            log.info("%d waiting stems told their download is still on this host", kept)
        health = WorkerHealth(client, workers, settings)
        watcher = asyncio.create_task(health.watch())
        server = (HealthServer(settings.worker_health_bind_address, health.liveness, health.readiness).start()
                  if settings.worker_health_bind_address else None)
        log.info("worker polling %s and %s", settings.temporal_task_queue, settings.host_task_queue)
        await stop.wait()
        log.info("stopping: finishing running activities")
        watcher.cancel()
        if server is not None:
            server.stop()
    # Told once this host takes no more workflow tasks: a task their news caused must go to another host.
    told = await tell_about_this_host(client, settings, left=True)
    log.info("worker stopped; %d waiting stems told to use another host", told)


def main(workflows: Sequence[type] = WORKFLOWS) -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    configure_tracing("waveflow-worker")
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    try:
        asyncio.run(serve(settings, workflows))
    except SystemExit as failed:
        if not isinstance(failed.code, str):
            raise
        # A failed connect leaves the SDK's runtime threads behind; interpreter finalisation then aborts now and
        # then ("PyGILState_Release"), burying the one-line reason under a crash report. Leave without it.
        print(failed.code, file=sys.stderr, flush=True)
        os._exit(1)


if __name__ == "__main__":
    main()
