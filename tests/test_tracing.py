"""Traces: one connected trace per stem, from the bridge's SQS receive through the workflow and its activities
to the webhook requests, which carry its W3C `traceparent`; exported over OTLP by the real processes when the
standard `OTEL_*` variables say where."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from devstack.processes import LoopbackHttpServer, spawn, stop_process
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, webhooks


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


class OtlpCollector:
    """Receives OTLP/HTTP trace exports: (service name, span name, trace id, span id, parent span id) per span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, bytes, bytes, bytes]] = []
        self._changed = threading.Condition()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                with collector._changed:
                    for resource_spans in request.resource_spans:
                        service = next(attribute.value.string_value for attribute in resource_spans.resource.attributes
                                       if attribute.key == "service.name")
                        collector.spans += [(service, span.name, span.trace_id, span.span_id, span.parent_span_id)
                                            for scope in resource_spans.scope_spans for span in scope.spans]
                    collector._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = LoopbackHttpServer(Handler, "otlp-collector")

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise TimeoutError(f"spans so far: {[(span[0], span[1]) for span in self.spans]}")


def test_worker_and_bridge_export_one_trace_over_otlp(stack: Stack, tmp_path: Path) -> None:
    collector = OtlpCollector()
    collector.server.start()
    env = {**stack.env(), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.server.base_url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    stack.put("uploads/exported.wav", encode(sine(0.3)))
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
    try:
        stack.send(hash_request("exported", "uploads/exported.wav"))
        [completion] = stack.standin.wait_for(COMPLETION, 1, timeout=60)
        trace_id, parent = trace_parent_ids(completion.headers["traceparent"])
        trace_bytes, parent_bytes = trace_id.to_bytes(16, "big"), parent.to_bytes(8, "big")

        def whole_trace_exported() -> bool:
            in_trace = {(span[0], span[1]) for span in collector.spans if span[2] == trace_bytes}
            sent_by = [span for span in collector.spans if span[3] == parent_bytes]
            return ("waveflow-bridge", "receive SQS message") in in_trace and bool(sent_by) and {
                ("waveflow-worker", "RunWorkflow:StemIngestWorkflow"),
                ("waveflow-worker", "RunActivity:analyse_audio")} <= in_trace

        collector.wait_until(whole_trace_exported)
    finally:
        stop_process(bridge)
        stop_process(worker)
        collector.server.stop()
    [sender] = [span for span in collector.spans if span[3] == parent_bytes]
    assert sender[:3] == ("waveflow-worker", "RunActivity:send_webhook", trace_bytes)
