"""A stem's success, kept in S3 beside its files for as long as the bucket keeps them.

Temporal forgets a closed run after the namespace's retention; SQS can deliver a message for the stem later (a
redrive from the dead-letter queue restarts its retention). The bridge looks for this record before it hands a
stem's message over, so a stem that succeeded never runs again, however late its messages come back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

MISSING = {"404", "NoSuchKey", "NotFound"}


class SuccessRecord(BaseModel):
    stemId: str
    workflow_id: str
    run_id: str
    filepath: str
    audio_hash: str
    outcome: Literal["analysed", "duplicate_file_deleted"]
    completed_at: datetime


class SuccessRecords:
    """`prefix` empty: nothing is recorded and nothing is looked for."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix

    @property
    def enabled(self) -> bool:
        return bool(self._prefix)

    def key(self, stem_id: str) -> str:
        return f"{self._prefix}{stem_id}.json"

    def succeeded_at(self, stem_id: str) -> datetime | None:
        """When the stem's success was recorded; None when it never was. One HEAD."""
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=self.key(stem_id))
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in MISSING:
                return None
            raise
        modified: datetime = head["LastModified"]
        return modified
