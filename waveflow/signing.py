"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>`, as Stripe-style receivers verify them."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-WaveFlow-Signature"
TIMESTAMP_HEADER = "X-WaveFlow-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
