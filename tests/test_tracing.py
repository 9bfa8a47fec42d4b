"""Traces: one connected trace per stem, from the bridge's SQS receive through the workflow and its activities
to the webhook requests, which carry its W3C `traceparent`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, webhooks
from tests.signals import encode, sine


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider can be set once per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()


def trace_parent_ids(traceparent: str) -> tuple[int, int]:
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return int(trace_id, 16), int(span_id, 16)


async def test_one_connected_trace_per_stem(spans: InMemorySpanExporter, services: Stack, client: Client) -> None:
    stems = {"traced-a": sine(0.3, frequency=220), "traced-b": sine(0.4, frequency=330)}
    for stem_id, audio in stems.items():
        services.put(f"uploads/{stem_id}.wav", encode(audio))
        services.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
    completions = await webhooks(services, COMPLETION, count=2)
    for stem_id in stems:  # the activities' spans end before the workflow does
        await client.get_workflow_handle(f"stem-{stem_id}").result()
    hash_checks = services.standin.accepted(HASH_CHECK)
    finished: list[ReadableSpan] = list(spans.get_finished_spans())

    trace_of_stem: dict[str, int] = {}
    for stem_id in stems:
        [receive] = [span for span in finished if span.name == "receive SQS message"
                     and span.attributes.get("waveflow.stem_id") == stem_id
                     and span.attributes.get("waveflow.task") == "generate_hash_and_webhook"]
        assert receive.parent is None
        trace_id = receive.context.trace_id
        trace_of_stem[stem_id] = trace_id
        in_trace = [span for span in finished if span.context.trace_id == trace_id]
        names = {span.name for span in in_trace}
        assert {"StartWorkflow:StemIngestWorkflow", "RunWorkflow:StemIngestWorkflow",
                "StartActivity:download_and_hash", "RunActivity:download_and_hash",
                "StartActivity:analyse_audio", "RunActivity:analyse_audio",
                "StartActivity:send_webhook"} <= names, names
        assert sum(span.name == "RunActivity:send_webhook" for span in in_trace) == 2
        # Connected: every span of the trace hangs from another span of it, up to the receive.
        ids = {span.context.span_id for span in in_trace}
        assert all(span.parent is not None and span.parent.span_id in ids for span in in_trace if span is not receive)
        # Every span the workflow or its activities made is in this trace, not in one of its own.
        workflow_spans = [span for span in finished if span.attributes.get("temporalWorkflowID") == f"stem-{stem_id}"
                          and span.name.startswith(("RunWorkflow", "RunActivity", "StartActivity"))]
        assert workflow_spans and {span.context.trace_id for span in workflow_spans} == {trace_id}
        # The webhook requests carry the trace: their parent is the activity attempt that sent them.
        sent = [item for item in [*hash_checks, *completions] if item.body["stemId"] == stem_id]
        assert len(sent) == 2
        webhook_spans = {span.context.span_id for span in in_trace if span.name == "RunActivity:send_webhook"}
        for item in sent:
            header_trace, header_parent = trace_parent_ids(item.headers["traceparent"])
            assert header_trace == trace_id and header_parent in webhook_spans
    assert trace_of_stem["traced-a"] != trace_of_stem["traced-b"]
