"""S3 I/O: stream an object to the temp area while hashing it, upload waveforms, delete a named duplicate. Small
objects go through obstore (`S3Objects`), everything else through boto3."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import ClientError
from temporalio import activity

from activities.aws_access import denied_as, error_code, is_access_denied, s3_arn
from activities.errors import as_application_errors
from activities.heartbeats import ProgressBeat, heartbeat_while
from activities.s3_objects import SMALL_OBJECT_BYTES, OpenedObject, S3Objects
from metrics import count
from waveflow.audio.waveform import Waveform, waveform_document
from waveflow.deletion import check_duplicate_delete
from waveflow.errors import (
    AccessDeniedError,
    DeleteRefusedError,
    FileTooLargeError,
    InvalidRequestError,
    ObjectMissingError,
    TempSpaceError,
    WaveFlowError,
)
from waveflow.hashing import copy_and_hash
from waveflow.models import DeleteRequest, DownloadedObject, DownloadRequest
from waveflow.settings import Settings
from waveflow.success_records import SuccessRecord, SuccessRecords
from waveflow.tempfiles import TempArea, no_space_is_retryable

CHUNK_BYTES = 1024 * 1024
LATE_MARGIN = timedelta(seconds=1)
"""An attempt that ends this close to its deadline is treated as late: its result might reach the worker after it."""
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Activities:
    def __init__(self, settings: Settings, s3: Any, temp_area: TempArea) -> None:
        self._settings = settings
        self._s3 = s3
        self._temp = temp_area
        self._bucket = settings.s3_bucket_name
        self._objects = S3Objects(s3, self._bucket)
        self._success_records = SuccessRecords(s3, settings.s3_bucket_name, settings.s3_success_record_prefix)

    def _arn(self, key: str | None = None) -> str:
        return s3_arn(self._settings.aws_region, self._bucket, key)

    def _refused_read(self, key: str) -> WaveFlowError:
        """S3 answers a GET of a missing key with 403 when s3:ListBucket is not granted: a listing tells a
        missing key from a denied s3:GetObject."""
        try:
            listing = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=key, MaxKeys=1)
        except ClientError as error:
            if is_access_denied(error):
                return AccessDeniedError("s3:ListBucket", self._arn(), f"S3 answered 403 for {key!r} and, without "
                                         "s3:ListBucket, does not tell a missing key from a denied s3:GetObject")
            raise
        if any(item["Key"] == key for item in listing.get("Contents", [])):
            return AccessDeniedError("s3:GetObject", self._arn(key))
        return ObjectMissingError(f"the file {key!r} does not exist in S3")

    def _open(self, key: str, max_size_bytes: int) -> OpenedObject:
        """boto3's GET, answered up to its headers: too large an object is refused before any of its body is read."""
        try:
            with heartbeat_while({"phase": "get", "key": key}):
                response: dict[str, Any] = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error_code(error) in _MISSING:
                raise ObjectMissingError(f"the file {key!r} does not exist in S3") from None
            if is_access_denied(error):
                raise self._refused_read(key) from None
            if error_code(error) in {"400", "InvalidArgument", "KeyTooLongError"}:
                raise InvalidRequestError(f"S3 refused the key {key!r}: {error_code(error)}") from None
            raise
        size = int(response["ContentLength"])
        if size > max_size_bytes:
            response["Body"].close()
            raise _too_large(size, max_size_bytes)
        return OpenedObject(size=size, etag=str(response["ETag"]), version_id=response.get("VersionId"),
                            chunks=response["Body"].iter_chunks(CHUNK_BYTES), close=response["Body"].close)

    def fetch(self, stem_id: str, key: str, max_size_bytes: int) -> DownloadedObject:
        """One GET, hashed as it streams to disk; its own headers give the size, ETag and version. The size is
        reserved in the temp budget before the first byte is written."""
        return self._stream_to_disk(stem_id, key, max_size_bytes, self._open(key, max_size_bytes))

    def _stream_to_disk(self, stem_id: str, key: str, max_size_bytes: int, opened: OpenedObject,
                        wait_for_room: bool = True) -> DownloadedObject:
        size = opened.size
        path = self._temp.new_path(stem_id, "audio")
        beat = ProgressBeat()
        waited: list[float] = []

        def waiting(seconds: float) -> None:
            if not waited:  # S3 would drop a connection left idle while the budget is full
                opened.close()
            waited.append(seconds)
            beat.waiting_for_disk(seconds)

        try:
            with self._temp.reserve(stem_id, size, [path], f"the download of {key!r}", waiting, wait=wait_for_room):
                if waited:
                    opened = self._open(key, max_size_bytes)
                    if opened.size != size:
                        raise RuntimeError(f"{key!r} changed size while its download waited for temp disk; "
                                           "fetching it again")
                with no_space_is_retryable(path), path.open("wb") as output:
                    sha256, written = copy_and_hash(opened.chunks, output,
                                                    lambda done: beat({"bytes_downloaded": done, "bytes_total": size}))
        except BaseException:
            opened.close()
            path.unlink(missing_ok=True)
            raise
        if written != size:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"S3 sent {written} bytes of {key!r}, expected {size}; fetching it again")
        count("waveflow_bytes_hashed", written, "Bytes downloaded from S3 and hashed")
        return DownloadedObject(local_path=str(path), sha256=sha256, size=size, etag=opened.etag,
                                version_id=opened.version_id, host_task_queue=self._settings.host_task_queue)

    @activity.defn(name="download_and_hash")
    def download_and_hash(self, request: DownloadRequest) -> DownloadedObject:
        with as_application_errors():
            return self.fetch(request.stem_id, request.key, request.max_size_bytes)

    @activity.defn(name="download_small_and_hash")
    def download_small_and_hash(self, request: DownloadRequest) -> DownloadedObject | None:
        """As a local activity: `download_and_hash` for an object of at most `request.local_max_bytes` that the
        temp budget has room for now, through obstore; None, with the GET closed after its headers, for any other, and
        for a GET obstore could not make: the activity's GET through boto3 then names what went wrong."""
        with as_application_errors():
            try:
                with heartbeat_while({"phase": "get", "key": request.key}):
                    opened = self._objects.get(request.key, CHUNK_BYTES)
            except Exception as error:  # whatever it was, the activity's GET meets it again
                activity.logger.info("small GET of %s failed (%s); downloading it by activity", request.key,
                                     str(error).partition("\n")[0])
                return None
            if opened.size > request.max_size_bytes:
                opened.close()
                raise _too_large(opened.size, request.max_size_bytes)
            if opened.size > request.local_max_bytes:
                opened.close()
                return None
            try:
                downloaded = self._stream_to_disk(request.stem_id, request.key, request.max_size_bytes, opened,
                                                  wait_for_room=False)
            except TempSpaceError:
                return None
            if past_its_deadline():  # the workflow gave up on it and downloads by activity: the file is no one's
                Path(downloaded.local_path).unlink(missing_ok=True)
                raise RuntimeError(f"the local download of {request.key!r} ended after its deadline")
            return downloaded

    def local_copy(self, owner_id: str, key: str, downloaded: DownloadedObject | None, expected_sha256: str | None,
                   max_size_bytes: int) -> tuple[DownloadedObject, bool]:
        """The downloaded file when it is still on this host, else the object fetched again and checked against
        the hash its download reported (when there was one); the flag says whether it was fetched here."""
        if downloaded is not None and self._temp.contains(Path(downloaded.local_path)) \
                and Path(downloaded.local_path).is_file():
            return downloaded, False
        activity.logger.info("local copy of %s is not on this host; fetching it again", key)
        fetched = self.fetch(owner_id, key, max_size_bytes)
        if expected_sha256 is not None and fetched.sha256 != expected_sha256:
            Path(fetched.local_path).unlink(missing_ok=True)
            raise InvalidRequestError(f"the file {key!r} changed after it was hashed (SHA-256 {fetched.sha256}, "
                                      f"expected {expected_sha256})")
        return fetched, True

    def upload_waveform(self, waveform: Waveform, created_at: str, waveform_key: str, detail_path: Path,
                        detail_key: str) -> None:
        """The waveform JSON and, beside it, the zoomable `.dat` level the analysis wrote to `detail_path`."""
        self.upload_json(waveform_document(peaks=waveform.peaks, duration=waveform.duration,
                                           sample_rate=waveform.sample_rate,
                                           samples_per_pixel=waveform.samples_per_pixel,
                                           pixel_min=waveform.pixel_min, pixel_max=waveform.pixel_max,
                                           created_at=created_at, insights=waveform.insights), waveform_key)
        self.upload_file(detail_path, detail_key, "application/octet-stream")

    def upload_json(self, document: dict[str, object], key: str) -> None:
        """A waveform document is bounded (at most 2 * num_peaks pixels): encoded in one call, sent from memory.
        orjson: the standard library's encoder took 2.5 ms for 4,000 peaks, orjson 0.13 ms (the same JSON values)."""
        with heartbeat_while({"phase": "uploading", "key": key}):
            self._objects.put(key, orjson.dumps(document), "application/json")

    def upload_file(self, path: Path, key: str, content_type: str) -> None:
        """A larger file (a `.dat` of hours at few samples per pixel) streams from disk through boto3."""
        with heartbeat_while({"phase": "uploading", "key": key}):
            if path.stat().st_size <= SMALL_OBJECT_BYTES:
                self._objects.put(key, path, content_type)
                return
            with path.open("rb") as body, denied_as("s3:PutObject", self._arn(key)):
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    @activity.defn(name="record_success")
    def record_success(self, record: SuccessRecord) -> None:
        if not self._success_records.enabled:
            return
        with as_application_errors():
            self._objects.put(self._success_records.key(record.stemId), record.model_dump_json().encode(),
                              "application/json")

    @activity.defn(name="delete_duplicate")
    def delete_duplicate(self, request: DeleteRequest) -> None:
        """Deletes the stem's own object, and only while it is still exactly the one WaveFlow hashed."""
        with as_application_errors():
            check_duplicate_delete(stem_key=request.stem_key, decided_key=request.decided_key,
                                   computed_hash=request.computed_sha256, decided_hash=request.decided_sha256,
                                   allowed_prefixes=self._settings.s3_delete_allowed_prefixes,
                                   requested_prefixes=request.allowed_prefixes)
            try:
                head = self._s3.head_object(Bucket=self._bucket, Key=request.stem_key)
            except ClientError as error:
                if error_code(error) in _MISSING:
                    activity.logger.warning("duplicate %s is already gone", request.stem_key)
                    return
                refused = self._refused_read(request.stem_key) if is_access_denied(error) else None
                if isinstance(refused, ObjectMissingError):
                    activity.logger.warning("duplicate %s is already gone", request.stem_key)
                    return
                if refused is not None:
                    raise refused from None
                raise
            if head["ETag"] != request.etag:
                raise DeleteRefusedError(
                    f"delete refused: {request.stem_key!r} changed since WaveFlow hashed it "
                    f"(ETag {head['ETag']} is not {request.etag})"
                )
            # The ETag again on the delete itself: an object replaced since the HEAD is refused by S3, not deleted.
            try:
                with denied_as("s3:DeleteObject", self._arn(request.stem_key)):
                    self._s3.delete_object(Bucket=self._bucket, Key=request.stem_key, IfMatch=request.etag)
            except ClientError as error:
                if error_code(error) not in {"PreconditionFailed", "412"}:
                    raise
                raise DeleteRefusedError(f"delete refused: {request.stem_key!r} was replaced while WaveFlow was "
                                         f"deleting it (its ETag is no longer {request.etag})") from None


def _too_large(size: int, max_size_bytes: int) -> FileTooLargeError:
    return FileTooLargeError(f"the file is {size / 1048576:.1f} MB, more than the {max_size_bytes / 1048576:.0f} MB "
                             "limit")


def seconds_left() -> float:
    """Until this attempt's start-to-close deadline; infinite without one."""
    info = activity.info()
    if info.start_to_close_timeout is None:
        return math.inf
    return (info.started_time + info.start_to_close_timeout - datetime.now(UTC)).total_seconds()


def past_its_deadline() -> bool:
    """Whether this attempt ran into the last `LATE_MARGIN` of its start-to-close timeout. A local activity's result
    that comes after it is dropped, and the thread that ran it is not stopped: what it wrote would be left behind."""
    return seconds_left() < LATE_MARGIN.total_seconds()
