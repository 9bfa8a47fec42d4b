"""What a stem id, an S3 key and a peak count may look like: checked before anything touches S3 or disk."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NUM_PEAKS = 100_000
MAX_S3_KEY_BYTES = 1024
_STEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def check_stem_id(value: str) -> str:
    if not _STEM_ID.fullmatch(value):
        raise ValueError(
            "stemId must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def check_s3_key(value: str) -> str:
    if not value:
        raise ValueError("filepath is empty")
    if len(value.encode("utf-8")) > MAX_S3_KEY_BYTES:
        raise ValueError(f"filepath is longer than {MAX_S3_KEY_BYTES} bytes")
    if "://" in value or value.startswith("s3:"):
        raise ValueError("filepath must be an S3 key in the bucket, not a URL")
    if value.startswith("/"):
        raise ValueError("filepath must not start with '/'")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("filepath contains control characters")
    if any(part in {"..", "."} for part in value.split("/")):
        raise ValueError("filepath must not contain '.' or '..' segments")
    return value


def check_sha256(value: str) -> str:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("audio_hash must be 64 hexadecimal characters (SHA-256)")
    return value.lower()


# The json_schema_extra lines only describe the validators above in the published JSON Schemas.
StemId = Annotated[str, AfterValidator(check_stem_id), Field(json_schema_extra={"pattern": _STEM_ID.pattern})]
S3Key = Annotated[str, AfterValidator(check_s3_key), Field(json_schema_extra={
    "minLength": 1, "description": f"an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, "
                                   f"no control character, at most {MAX_S3_KEY_BYTES} bytes of UTF-8"})]
Sha256Hex = Annotated[str, AfterValidator(check_sha256), Field(json_schema_extra={"pattern": _SHA256_HEX.pattern})]
NumPeaks = Annotated[int, Field(ge=1, le=MAX_NUM_PEAKS, strict=False)]
ShortText = Annotated[str, Field(max_length=512)]
