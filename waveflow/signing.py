"""Webhook signatures per Standard Webhooks (https://www.standardwebhooks.com), through its own library.

`webhook-id` is the idempotency key (`stem-<stemId>:<runId>:<kind>`), the same on every attempt;
`webhook-timestamp` is the attempt's Unix time; `webhook-signature` is `v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">` under the `whsec_…` secret. The earlier `X-WaveFlow-*` headers are still sent
while `WEBHOOK_LEGACY_SECRET` is set, so a server can switch verifiers without a gap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
LEGACY_SIGNATURE_HEADER = "X-WaveFlow-Signature"
LEGACY_TIMESTAMP_HEADER = "X-WaveFlow-Timestamp"
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24


def check_secret(secret: str) -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX} (Standard Webhooks); generate one with "
                         "`python -c 'import waveflow.signing as s; print(s.new_secret())'`")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= 64:
        raise ValueError(f"must hold {MIN_SECRET_BYTES} to 64 bytes after {SECRET_PREFIX}")
    return secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode("utf-8"))
    return {ID_HEADER: webhook_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}


def legacy_signature_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The pre-Standard-Webhooks scheme: `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the raw secret."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return {LEGACY_TIMESTAMP_HEADER: str(timestamp), LEGACY_SIGNATURE_HEADER: "v1=" + mac.hexdigest()}
