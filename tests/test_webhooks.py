"""Webhook delivery: retries with one idempotency key, which answers are final, Standard Webhooks signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.webhooks import WebhookActivities, webhook_connections
from devstack.nestjs_standin import NestJsStandIn
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, services_running, webhooks
from waveflow.contract import WebhookKind
from waveflow.models import WebhookDelivery
from waveflow.settings import Settings
from waveflow.signing import (
    ID_HEADER,
    IDEMPOTENCY_HEADER,
    LEGACY_SIGNATURE_HEADER,
    LEGACY_TIMESTAMP_HEADER,
    SIGNATURE_HEADER,
    new_secret,
)
from workflows.stem_ingest import StemIngestWorkflow


async def test_503_then_201_delivers_with_the_same_idempotency_key(services: Stack) -> None:
    services.standin.fail_next(HASH_CHECK, 503, 503, 503)
    services.put("uploads/retry.wav", encode(sine(0.2)))
    services.send(hash_request("retry", "uploads/retry.wav"))
    await webhooks(services, COMPLETION)
    attempts = [item for item in services.standin.received if item.path == HASH_CHECK]
    assert [item.status for item in attempts] == [503, 503, 503, 201]
    keys = {item.headers[IDEMPOTENCY_HEADER] for item in attempts}
    assert len(keys) == 1 and keys.pop().startswith("stem-retry:")
    assert len({item.raw_body for item in attempts}) == 1
    completion_key = services.standin.accepted(COMPLETION)[0].headers[IDEMPOTENCY_HEADER]
    assert completion_key.endswith(":completion")


async def test_400_on_hash_check_ends_the_stem_with_the_error(services: Stack) -> None:
    services.standin.fail_next(HASH_CHECK, 400)
    services.put("uploads/refused.wav", encode(sine(0.2)))
    services.send(hash_request("refused", "uploads/refused.wav"))
    [completion] = await webhooks(services, COMPLETION)
    assert completion.body["status"] == "FAILURE"
    assert completion.body["result"]["error_code"] == "webhook_rejected"
    assert completion.body["result"]["error"].startswith("the server rejected the hash-check webhook with HTTP 400")
    assert [item.status for item in services.standin.received if item.path == HASH_CHECK] == [400]
    assert "uploads/refused.wav" in services.object_keys()


async def test_400_on_completion_fails_the_workflow_with_the_error_recorded(services: Stack, client: Client) -> None:
    services.standin.fail_next(COMPLETION, 400)
    services.put("uploads/bounced.wav", encode(sine(0.2)))
    services.send(hash_request("bounced", "uploads/bounced.wav"))
    handle = client.get_workflow_handle_for(StemIngestWorkflow.run, "stem-bounced")
    await webhooks(services, HASH_CHECK)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "rejected the completion webhook with HTTP 400" in str(failed.value.cause)
    status = await handle.query(StemIngestWorkflow.status)
    assert status.phase == "failed" and status.error is not None
    assert status.error.error_code == "webhook_rejected"


async def test_signed_webhooks_verify_with_the_standard_webhooks_library(stack: Stack, client: Client) -> None:
    secret = new_secret()
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret)})
    stack.put("uploads/signed.wav", encode(sine(0.2)))
    async with services_running(client, settings):
        stack.send(hash_request("signed", "uploads/signed.wav"))
        await webhooks(stack, COMPLETION)
    received = stack.standin.received
    assert len(received) == 2
    for item in received:
        assert item.headers[ID_HEADER] == item.headers[IDEMPOTENCY_HEADER]
        assert item.headers[ID_HEADER].startswith("stem-signed:")
        assert Webhook(secret).verify(item.raw_body, item.headers) == item.body
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(item.raw_body + b" ", item.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(item.raw_body, item.headers)
        assert LEGACY_SIGNATURE_HEADER not in item.headers


@pytest.mark.parametrize("with_new_secret", [False, True], ids=["legacy-only", "both"])
async def test_the_legacy_signature_is_sent_while_migrating(stack: Stack, client: Client,
                                                            with_new_secret: bool) -> None:
    secret, legacy = new_secret(), "the-old-shared-secret"
    settings = stack.settings.model_copy(update={"webhook_secret": SecretStr(secret) if with_new_secret else None,
                                                 "webhook_legacy_secret": SecretStr(legacy)})
    stem_id = f"migrating-{'both' if with_new_secret else 'legacy'}"  # workflow ids are namespace-wide
    stack.put(f"uploads/{stem_id}.wav", encode(sine(0.2)))
    async with services_running(client, settings):
        stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
        [completion] = await webhooks(stack, COMPLETION)
    timestamp = completion.headers[LEGACY_TIMESTAMP_HEADER]
    expected = "v1=" + hmac.new(legacy.encode(), f"{timestamp}.".encode() + completion.raw_body,
                                hashlib.sha256).hexdigest()
    assert completion.headers[LEGACY_SIGNATURE_HEADER] == expected
    if with_new_secret:
        Webhook(secret).verify(completion.raw_body, completion.headers)
    else:
        assert SIGNATURE_HEADER not in completion.headers


def test_a_secret_that_is_not_standard_webhooks_stops_start_up() -> None:
    with pytest.raises(ValidationError, match="must start with whsec_"):
        Settings(s3_bucket_name="bucket", webhook_url="http://127.0.0.1/webhook", webhook_secret="plain-secret")
    with pytest.raises(ValidationError, match="24 to 64 bytes"):
        Settings(s3_bucket_name="bucket", webhook_url="http://127.0.0.1/webhook", webhook_secret="whsec_c2hvcnQ=")


def answered(status: int) -> ApplicationError:
    """What one delivery attempt raises when the server answers `status`."""
    standin = NestJsStandIn().start()
    try:
        standin.fail_next("/webhook/completion", status)
        settings = Settings(s3_bucket_name="bucket", webhook_url=standin.url, metrics_bind_address="")
        delivery = WebhookDelivery(kind=WebhookKind.COMPLETION, idempotency_key="stem-s:run:completion",
                                   body={"stemId": "s"})
        with pytest.raises(ApplicationError) as raised:
            ActivityEnvironment().run(WebhookActivities(settings, webhook_connections(settings)).send_webhook, delivery)
    finally:
        standin.stop()
    assert [item.status for item in standin.received] == [status]
    return raised.value


@pytest.mark.parametrize("status", [401, 403, 408, 425, 429, 500, 503])
def test_a_refused_signature_and_passing_trouble_are_retried(status: int) -> None:
    """401/403: a worker clock minutes off or a secret rotated on one side first mends without the stem."""
    assert not answered(status).non_retryable


@pytest.mark.parametrize("status", [400, 404, 409, 410, 422])
def test_a_rejected_body_is_final(status: int) -> None:
    error = answered(status)
    assert error.non_retryable and error.type == "webhook_rejected"
    assert f'HTTP {status}: {{"ok": false}}' in error.message
