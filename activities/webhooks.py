"""Webhook delivery: one POST per attempt, signed per Standard Webhooks, with an id that survives retries."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import urllib3
from opentelemetry import propagate
from temporalio import activity
from temporalio.exceptions import ApplicationError

from metrics import count, observe
from waveflow.errors import WebhookRejectedError
from waveflow.models import WebhookDelivery
from waveflow.settings import Settings
from waveflow.signing import IDEMPOTENCY_HEADER, legacy_signature_headers, signature_headers

RETRYABLE_CLIENT_ERRORS = {401, 403, 408, 425, 429}
"""A 401 or 403 is the server refusing the signature: a worker clock off by minutes, or a secret rotated on one
side first. Both mend without the stem, so they are retried (and alerted on); other 4xx are final."""
MAX_RETRY_AFTER_SECONDS = 600


def webhook_connections(settings: Settings) -> urllib3.PoolManager:
    """The worker's connections to the webhook server: one kept alive for each thread of its activity pool, where
    the POSTs run. urllib3 rather than httpx's async client: a POST costs about a third of the CPU
    (`bench/webhook_client.py`), and two per stem were a tenth of the worker's. The certificates trusted are
    httpx's (certifi's), as before."""
    timeout = settings.webhook_timeout_seconds
    return urllib3.PoolManager(maxsize=2 * settings.max_concurrent_activities, ssl_context=httpx.create_ssl_context(),
                               timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False)


class WebhookActivities:
    def __init__(self, settings: Settings, http: urllib3.PoolManager) -> None:
        self._base_url, self._credentials = _without_credentials(str(settings.webhook_url).rstrip("/"))
        self._secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self._legacy_secret = (settings.webhook_legacy_secret.get_secret_value() if settings.webhook_legacy_secret
                               else None)
        self._http = http

    @activity.defn(name="send_webhook")
    def send_webhook(self, delivery: WebhookDelivery) -> int:
        """POST the body; 2xx returns the status, a 4xx other than RETRYABLE_CLIENT_ERRORS is final, anything else is
        retried."""
        return self.post(delivery)

    def post(self, delivery: WebhookDelivery, within_seconds: float | None = None) -> int:
        """One attempt of `send_webhook`, from any activity; `within_seconds` bounds it as a whole (else connect and
        read are bounded apart by WEBHOOK_TIMEOUT_SECONDS)."""
        body = json.dumps(delivery.body, separators=(",", ":"), sort_keys=True).encode("utf-8")
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": "WaveFlow/0.1",
                   IDEMPOTENCY_HEADER: delivery.idempotency_key, **self._credentials}
        if self._secret:
            headers |= signature_headers(self._secret, delivery.idempotency_key, timestamp, body)
        if self._legacy_secret:
            headers |= legacy_signature_headers(self._legacy_secret, timestamp, body)
        propagate.inject(headers)  # `traceparent` of this attempt's span, when tracing is on
        url = f"{self._base_url}/{delivery.kind.value}"
        kind = delivery.kind.value
        started = time.monotonic()
        try:
            # urllib3 reads `timeout=None` as no timeout at all: the pool's own applies unless one is given.
            bounded = {"timeout": urllib3.Timeout(total=within_seconds)} if within_seconds else {}
            response = self._http.request("POST", url, body=body, headers=headers, redirect=False, **bounded)
        except urllib3.exceptions.HTTPError as error:
            _record(kind, "unreachable", started)
            raise ApplicationError(f"{kind} webhook unreachable: {type(error).__name__}") from None
        status = response.status
        if 200 <= status < 300:
            _record(kind, "delivered", started)
            return status
        _record(kind, str(status), started)
        detail = response.data.decode("utf-8", "replace")[:300]
        if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
            raise ApplicationError(f"the server rejected the {kind} webhook with HTTP {status}: {detail}",
                                   type=WebhookRejectedError.code, non_retryable=True)
        raise ApplicationError(f"{kind} webhook answered HTTP {status}: {detail}",
                               next_retry_delay=_retry_after(response))


def _without_credentials(url: str) -> tuple[str, dict[str, str]]:
    """A WEBHOOK_URL's `user:password@` as a Basic `Authorization` header (urllib3, unlike httpx, sends no header
    for them), and the URL without them."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), {
        "Authorization": urllib3.make_headers(basic_auth=credentials)["authorization"]}


def _record(kind: str, outcome: str, started: float) -> None:
    count("waveflow_webhook_attempts", 1, "Webhook POST attempts, by kind and outcome", kind=kind, outcome=outcome)
    observe("waveflow_webhook_duration_seconds", time.monotonic() - started,
            "Time one webhook POST took, by kind and outcome", kind=kind, outcome=outcome)


def _retry_after(response: urllib3.BaseHTTPResponse) -> timedelta | None:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    return None
