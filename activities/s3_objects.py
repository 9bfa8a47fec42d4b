"""Small whole objects in and out of S3 through obstore (Rust's object_store): a PUT or a GET there costs the worker
about a seventh of the CPU botocore spends on it (0.3 ms against 2.2 ms on this machine), and a small stem makes four.

boto3 keeps every other S3 call: streaming GETs of any size (timed per read, not per request), HEADs, listings and
the conditional delete, which obstore does not offer. The store is built from the boto3 client's own endpoint,
region and credentials, so the one configuration boto3 reads (AWS_ENDPOINT_URL_S3, profiles, IRSA, ECS, instance
roles) serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import obstore
from obstore.exceptions import PermissionDeniedError
from obstore.store import S3Store
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from activities.aws_access import s3_arn
from waveflow.errors import AccessDeniedError

if TYPE_CHECKING:
    from obstore.store import S3Credential

SMALL_OBJECT_BYTES = 8 * 1024 * 1024
"""The largest body obstore is given to PUT: it holds the whole body in memory and times the whole request."""
REQUEST_TIMEOUT = timedelta(seconds=10)
"""A whole request, body included, as boto3's read timeout bounds one read: obstore only moves small objects."""
CONNECT_TIMEOUT = timedelta(seconds=5)
RETRIES = 2
"""Three attempts in all, as boto3's standard mode makes."""
RETRIES_WITHIN = timedelta(seconds=30)
"""No attempt starts later than this after the first."""
CREDENTIALS_REREAD = timedelta(minutes=5)
"""How often obstore asks boto3 for the credentials again; boto3 refreshes temporary ones itself before they end."""
AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class OpenedObject:
    """A GET answered up to its headers (through obstore or boto3): `chunks` streams its body once, `close` drops it
    unread."""

    size: int
    etag: str
    version_id: str | None
    chunks: Iterator[bytes]
    close: Callable[[], None]


class S3Objects:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._region = s3.meta.region_name
        self._bucket = bucket
        endpoint, virtual_hosted = _endpoint(s3.meta.endpoint_url, bucket)
        self._store = S3Store(bucket, endpoint=endpoint, virtual_hosted_style_request=virtual_hosted,
                              region=self._region, credential_provider=_ClientCredentials(s3),
                              client_options={"allow_http": endpoint.startswith("http:"),
                                              "connect_timeout": CONNECT_TIMEOUT, "timeout": REQUEST_TIMEOUT},
                              retry_config={"max_retries": RETRIES, "retry_timeout": RETRIES_WITHIN,
                                            "backoff": {"init_backoff": timedelta(milliseconds=100),
                                                        "max_backoff": timedelta(seconds=5), "base": 2.0}})

    def put(self, key: str, body: bytes | Path, content_type: str) -> None:
        """A `body` of at most SMALL_OBJECT_BYTES. S3's refusal is an AccessDeniedError naming s3:PutObject on the
        key; any other failure is raised as obstore reports it (retryable)."""
        with self._span("PutObject", key):
            try:
                # One PUT, as boto3's put_object makes: a multipart upload would need s3:AbortMultipartUpload too.
                obstore.put(self._store, key, body, attributes={"Content-Type": content_type}, use_multipart=False)
            except PermissionDeniedError:
                raise AccessDeniedError("s3:PutObject", s3_arn(self._region, self._bucket, key)) from None

    def get(self, key: str, chunk_bytes: int) -> OpenedObject:
        """Raises obstore's errors as they are: the caller falls back to boto3's GET, which names them."""
        with self._span("GetObject", key):
            result = obstore.get(self._store, key)
        meta = result.meta
        chunks = (bytes(chunk) for chunk in result.stream(min_chunk_size=chunk_bytes))
        return OpenedObject(size=meta["size"], etag=str(meta["e_tag"]), version_id=meta["version"], chunks=chunks,
                            close=chunks.close)

    def _span(self, operation: str, key: str) -> AbstractContextManager[Span]:
        """A client span named and described as OpenTelemetry's botocore instrumentation names boto3's calls."""
        return _tracer.start_as_current_span(f"S3.{operation}", kind=SpanKind.CLIENT, attributes={
            "rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": operation, "aws.region": self._region,
            "aws.s3.bucket": self._bucket, "aws.s3.key": key})


def _endpoint(boto3_endpoint: str, bucket: str) -> tuple[str, bool]:
    """The endpoint obstore should use, and whether it names the bucket in the host, as boto3 addresses it: in the
    host on AWS (except a bucket whose dots would break the TLS certificate's match), in the path elsewhere."""
    parts = urlsplit(boto3_endpoint)
    if not (parts.hostname or "").endswith(AWS_HOSTS) or "." in bucket:
        return boto3_endpoint, False
    return urlunsplit(parts._replace(netloc=f"{bucket}.{parts.netloc}")), True


class _ClientCredentials:
    """The boto3 client's credentials, read again every few minutes: whatever its provider chain found."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __call__(self) -> S3Credential:
        # botocore has no public accessor for them; this is the one its own request signer reads.
        credentials = self._s3._get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials: boto3 found none (environment, profile, or role)")
        frozen = credentials.get_frozen_credentials()
        return {"access_key_id": frozen.access_key, "secret_access_key": frozen.secret_key, "token": frozen.token,
                "expires_at": datetime.now(UTC) + CREDENTIALS_REREAD}
