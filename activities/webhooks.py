"""Webhook delivery: one POST per attempt, signed, with an idempotency key that survives retries."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import count
from waveflow.errors import WebhookRejectedError
from waveflow.models import WebhookDelivery
from waveflow.settings import Settings
from waveflow.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

RETRYABLE_CLIENT_ERRORS = {408, 425, 429}
MAX_RETRY_AFTER_SECONDS = 600


class WebhookActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._base_url = str(settings.webhook_url).rstrip("/")
        self._secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self._http = http

    @activity.defn(name="send_webhook")
    async def send_webhook(self, delivery: WebhookDelivery) -> int:
        """POST the body; 2xx returns the status, 4xx but 408/425/429 is final, anything else is retried."""
        body = json.dumps(delivery.body, separators=(",", ":"), sort_keys=True).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: delivery.idempotency_key,
                   TIMESTAMP_HEADER: timestamp, "User-Agent": "WaveFlow/0.1"}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        url = f"{self._base_url}/{delivery.kind.value}"
        kind = delivery.kind.value
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            count("waveflow_webhook_attempts", 1, "Webhook POST attempts", kind=kind, outcome="unreachable")
            raise ApplicationError(f"{kind} webhook unreachable: {type(error).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            count("waveflow_webhook_attempts", 1, "Webhook POST attempts", kind=kind, outcome="delivered")
            return status
        count("waveflow_webhook_attempts", 1, "Webhook POST attempts", kind=kind, outcome=str(status))
        detail = response.text[:300]
        if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
            raise ApplicationError(f"the server rejected the {kind} webhook with HTTP {status}: {detail}",
                                   type=WebhookRejectedError.code, non_retryable=True)
        raise ApplicationError(f"{kind} webhook answered HTTP {status}: {detail}",
                               next_retry_delay=_retry_after(response))


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    return None
