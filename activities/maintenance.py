"""Operations activities: this host's temp sweep, the list of live worker hosts, and health checks."""

from __future__ import annotations

import asyncio
import platform
import shutil
import uuid
from importlib import metadata
from typing import Any

import av
import httpx
import soundfile
from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from waveflow.models import HealthCheck, HealthReport, HostSweep
from waveflow.settings import Settings
from waveflow.tempfiles import TempArea

MIN_FREE_TEMP_BYTES = 1024 * 1024 * 1024
SERVER_DOWN_STATUSES = {502, 503, 504}


class MaintenanceActivities:
    def __init__(self, settings: Settings, temp_area: TempArea, s3: Any, sqs: Any, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._temp = temp_area
        self._s3 = s3
        self._sqs = sqs
        self._http = http

    @activity.defn(name="sweep_temp_area")
    def sweep_temp_area(self) -> HostSweep:
        """The Celery worker's age policy on this host's temp area; files leased by running activities are kept."""
        return HostSweep(host_task_queue=self._settings.host_task_queue, **self._temp.sweep().model_dump())

    @activity.defn(name="list_worker_hosts")
    async def list_worker_hosts(self) -> list[str]:
        """Host queues of the workers polling the shared queue now: each worker's identity is its host queue."""
        client = activity.client()
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=self._settings.temporal_task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
        prefix = f"{self._settings.temporal_task_queue}@"
        return sorted({poller.identity for poller in response.pollers if poller.identity.startswith(prefix)})

    @activity.defn(name="check_health")
    async def check_health(self) -> HealthReport:
        checks = await asyncio.gather(self._check_s3(), self._check_sqs(), self._check_webhook(),
                                      asyncio.to_thread(self._check_temp_area))
        return HealthReport(status="healthy" if all(check.ok for check in checks) else "unhealthy",
                            checks=list(checks), worker=self._settings.host_task_queue, versions=_versions())

    async def _check_s3(self) -> HealthCheck:
        bucket = self._settings.s3_bucket_name
        try:
            # A one-key listing, not HeadBucket: it needs only s3:ListBucket, which the worker holds anyway.
            await asyncio.to_thread(self._s3.list_objects_v2, Bucket=bucket, MaxKeys=1)
        except (BotoCoreError, ClientError) as error:
            return HealthCheck(name="s3", ok=False, detail=f"bucket {bucket} unreachable: {_describe(error)}")
        return HealthCheck(name="s3", ok=True, detail=f"bucket {bucket} reachable")

    async def _check_sqs(self) -> HealthCheck:
        queue = self._settings.sqs_queue_url
        if not queue:
            return HealthCheck(name="sqs", ok=False, detail="SQS_QUEUE_URL is not set")
        try:
            await asyncio.to_thread(self._sqs.get_queue_attributes, QueueUrl=queue,
                                    AttributeNames=["ApproximateNumberOfMessages"])
        except (BotoCoreError, ClientError) as error:
            return HealthCheck(name="sqs", ok=False, detail=f"queue unreachable: {_describe(error)}")
        return HealthCheck(name="sqs", ok=True, detail="queue reachable")

    async def _check_webhook(self) -> HealthCheck:
        """Any HTTP answer means the server is up (a 404 or 405 for HEAD is normal); a failed connection or a
        proxy's 502/503/504 means it is not."""
        url = str(self._settings.webhook_url)
        try:
            response = await self._http.head(url)
        except httpx.HTTPError as error:
            return HealthCheck(name="webhook", ok=False, detail=f"webhook base URL unreachable: {_describe(error)}")
        if response.status_code in SERVER_DOWN_STATUSES:
            return HealthCheck(name="webhook", ok=False, detail=f"webhook server answers HTTP {response.status_code}")
        return HealthCheck(name="webhook", ok=True, detail=f"webhook server answers HTTP {response.status_code}")

    def _check_temp_area(self) -> HealthCheck:
        try:
            self._temp.ensure()
            probe = self._temp.root / f".health-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
            free = shutil.disk_usage(self._temp.root).free
        except OSError as error:
            return HealthCheck(name="temp_area", ok=False, detail=f"temp area not writable: {error.strerror}")
        detail = f"writable, {free / 1024**3:.1f} GiB free"
        if self._temp.budget_bytes is not None:
            detail += f", {self._temp.used_bytes() / 1024**3:.1f} of a {self._temp.budget_bytes / 1024**3:.1f} GiB " \
                      "budget in use"
        return HealthCheck(name="temp_area", ok=free >= MIN_FREE_TEMP_BYTES, detail=detail)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


def _versions() -> dict[str, str]:
    return {"waveflow": metadata.version("waveflow"), "temporalio": metadata.version("temporalio"),
            "python": platform.python_version(), "libsndfile": soundfile.__libsndfile_version__,
            "ffmpeg (PyAV)": av.__version__}
