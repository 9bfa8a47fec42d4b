"""The WaveFlow worker: stem workflows and their activities, on the shared queue and on this host's own queue.

Run: `python worker.py` (or `waveflow-worker`). SIGTERM or SIGINT finishes running activities, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.audio import AudioActivities
from activities.s3 import S3Activities, make_s3_client
from activities.temp import TempActivities
from activities.webhooks import WebhookActivities
from temporal_client import connect
from waveflow.logs import configure_logging
from waveflow.settings import Settings, load_settings
from waveflow.tempfiles import TempArea
from workflows.stem_ingest import StemIngestWorkflow

log = logging.getLogger("waveflow.worker")
GRACEFUL_SHUTDOWN = timedelta(seconds=60)


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Both of this host's workers, polling until the block exits; then a graceful shutdown."""
    temp_area = TempArea(settings.temp_dir)
    temp_area.ensure()
    s3_activities = S3Activities(settings, make_s3_client(settings), temp_area)
    audio_activities = AudioActivities(s3_activities, temp_area)
    temp_activities = TempActivities(temp_area)
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_activities + 2,
                                  thread_name_prefix="waveflow-activity")
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as http:
        webhook_activities = WebhookActivities(settings, http)
        host_activities = [audio_activities.analyse_audio, temp_activities.remove_stem_files]
        shared = Worker(
            client, task_queue=settings.temporal_task_queue, workflows=[StemIngestWorkflow],
            activities=[s3_activities.download_and_hash, s3_activities.delete_duplicate,
                        webhook_activities.send_webhook, *host_activities],
            activity_executor=executor, max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, identity=f"waveflow@{settings.worker_host_id}",
        )
        own_host = Worker(
            client, task_queue=settings.host_task_queue, activities=host_activities, activity_executor=executor,
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, identity=f"waveflow@{settings.worker_host_id}",
        )
        tasks = [asyncio.create_task(worker.run()) for worker in (shared, own_host)]
        try:
            yield [shared, own_host]
        finally:
            await asyncio.gather(shared.shutdown(), own_host.shutdown())
            await asyncio.gather(*tasks, return_exceptions=True)
            executor.shutdown(wait=True)


def _metrics_runtime(settings: Settings) -> Runtime | None:
    if not settings.metrics_bind_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_bind_address)))


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for received in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(received, stop.set)
    client = await connect(_metrics_runtime(settings))
    async with running_workers(client, settings):
        log.info("worker polling %s and %s", settings.temporal_task_queue, settings.host_task_queue)
        await stop.wait()
        log.info("stopping: finishing running activities")
    log.info("worker stopped")


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
