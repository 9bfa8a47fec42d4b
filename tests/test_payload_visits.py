"""The worker skips the SDK's payload walks only where they change nothing: a data converter with a payload codec
still has every payload of its workflows encoded."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta

import temporalio.bridge.worker as bridge_worker
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from payload_visits import skip_idle_payload_walks

MARKED = b"binary/waveflow-test-codec"


class MarkingCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": MARKED}, data=payload.SerializeToString()) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.FromString(payload.data) if payload.metadata.get("encoding") == MARKED else payload
                for payload in payloads]


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Shouting:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_local_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


async def run_shouting(client: Client) -> list[Payload]:
    """Runs the workflow; the payloads of its local activity's marker and of its result, as the history holds them."""
    task_queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[Shouting], activities=[shout],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(Shouting.run, "quiet", id=task_queue, task_queue=task_queue)
        assert await handle.result() == "QUIET"
    payloads = []
    async for event in handle.fetch_history_events():
        if event.HasField("marker_recorded_event_attributes"):
            payloads += event.marker_recorded_event_attributes.details["result"].payloads
        if event.HasField("workflow_execution_completed_event_attributes"):
            payloads += event.workflow_execution_completed_event_attributes.result.payloads
    return payloads


def test_the_skip_replaces_both_walks_once() -> None:
    assert skip_idle_payload_walks() and skip_idle_payload_walks()
    for name in ("decode_activation", "encode_completion"):
        assert getattr(getattr(bridge_worker, name), "__wrapped__", None) is not None, name


async def test_a_worker_with_a_payload_codec_still_encodes_every_payload(client: Client) -> None:
    assert skip_idle_payload_walks()
    with_codec = Client(**{**client.config(), "data_converter": dataclasses.replace(
        client.data_converter, payload_codec=MarkingCodec())})
    payloads = await run_shouting(with_codec)
    assert len(payloads) == 2 and all(payload.metadata["encoding"] == MARKED for payload in payloads), payloads


async def test_a_worker_without_one_leaves_them_as_its_converter_made_them(client: Client) -> None:
    assert skip_idle_payload_walks()
    payloads = await run_shouting(client)
    assert len(payloads) == 2 and all(payload.metadata["encoding"] == b"json/plain" for payload in payloads), payloads
