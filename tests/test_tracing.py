"""Traces: one connected trace per stem, from the bridge's SQS receive through the workflow and its activities
to the webhook requests, which carry its W3C `traceparent`; exported over OTLP by the real processes when the
standard `OTEL_*` variables say where."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from devstack.processes import LOOPBACK, LoopbackHttpServer, spawn, stop_process
from temporal_client import connect
from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, HASH_CHECK, Stack, hash_request, services_running, webhooks
from waveflow.tracing import configure_tracing, exporters_from


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


@pytest.fixture
async def traced(spans: InMemorySpanExporter, stack: Stack) -> AsyncIterator[Client]:
    """Worker and bridge in this process on a client connected once tracing is on: one connected before has no
    tracing interceptor."""
    client = await connect()
    assert [type(interceptor) for interceptor in client.config()["interceptors"]] == [TracingInterceptor]
    async with services_running(client, stack.settings):
        yield client


async def test_one_connected_trace_per_stem(spans: InMemorySpanExporter, stack: Stack, traced: Client) -> None:
    stems = {"traced-a": sine(0.3, frequency=220), "traced-b": sine(0.4, frequency=330)}
    for stem_id, audio in stems.items():
        stack.put(f"uploads/{stem_id}.wav", encode(audio))
        stack.send(hash_request(stem_id, f"uploads/{stem_id}.wav"))
    completions = await webhooks(stack, COMPLETION, count=2)
    for stem_id in stems:  # the activities' spans end before the workflow does
        await traced.get_workflow_handle(f"stem-{stem_id}").result()
    hash_checks = stack.standin.accepted(HASH_CHECK)
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
                "StartActivity:download_small_and_send_hash_check", "RunActivity:download_small_and_send_hash_check",
                "StartActivity:analyse_small_and_complete", "RunActivity:analyse_small_and_complete"} <= names, names
        # Connected: every span of the trace hangs from another span of it, up to the receive.
        ids = {span.context.span_id for span in in_trace}
        assert all(span.parent is not None and span.parent.span_id in ids for span in in_trace if span is not receive)
        # Every span the workflow or its activities made is in this trace, not in one of its own.
        workflow_spans = [span for span in finished if span.attributes.get("temporalWorkflowID") == f"stem-{stem_id}"
                          and span.name.startswith(("RunWorkflow", "RunActivity", "StartActivity"))]
        assert workflow_spans and {span.context.trace_id for span in workflow_spans} == {trace_id}
        # The webhook requests carry the trace: their parent is the activity attempt that sent them, the download's
        # and the analysis's.
        sent = [item for item in [*hash_checks, *completions] if item.body["stemId"] == stem_id]
        assert len(sent) == 2
        webhook_spans = {span.context.span_id for span in in_trace if span.name in {
            "RunActivity:download_small_and_send_hash_check", "RunActivity:analyse_small_and_complete"}}
        for item in sent:
            header_trace, header_parent = trace_parent_ids(item.headers["traceparent"])
            assert header_trace == trace_id and header_parent in webhook_spans
    assert trace_of_stem["traced-a"] != trace_of_stem["traced-b"]


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes


class OtlpCollector:
    """Receives OTLP trace exports over gRPC or over HTTP (protobuf), as a collector's two receivers do."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.spans: list[ExportedSpan] = []
        self.keys: set[str | None] = set()
        """The `x-collector-key` header (or gRPC metadata) of each export."""
        self._changed = threading.Condition()
        self._grpc: grpc.Server | None = None
        self._http: LoopbackHttpServer | None = None

    def start(self) -> str:
        """Starts the receiver; returns the endpoint for OTEL_EXPORTER_OTLP_ENDPOINT."""
        collector = self
        if self.protocol == "grpc":

            class TraceService(TraceServiceServicer):
                def Export(self, request: ExportTraceServiceRequest,
                           context: grpc.ServicerContext) -> ExportTraceServiceResponse:
                    collector.keys.add(dict(context.invocation_metadata()).get("x-collector-key"))
                    collector.take(request)
                    return ExportTraceServiceResponse()

            self._grpc = grpc.server(ThreadPoolExecutor(max_workers=2))
            add_TraceServiceServicer_to_server(TraceService(), self._grpc)
            port = self._grpc.add_insecure_port(f"{LOOPBACK}:0")
            self._grpc.start()
            return f"http://{LOOPBACK}:{port}"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.keys.add(self.headers["x-collector-key"])
                collector.take(ExportTraceServiceRequest.FromString(
                    self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._http = LoopbackHttpServer(Handler, "otlp-collector")
        self._http.start()
        return self._http.base_url

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        if self._http is not None:
            self._http.stop()

    def take(self, request: ExportTraceServiceRequest) -> None:
        with self._changed:
            for resource_spans in request.resource_spans:
                service = next(attribute.value.string_value for attribute in resource_spans.resource.attributes
                               if attribute.key == "service.name")
                self.spans += [ExportedSpan(service, span.name, span.trace_id, span.span_id, span.parent_span_id)
                               for scope in resource_spans.scope_spans for span in scope.spans]
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise TimeoutError(f"spans so far: {[(span.service, span.name) for span in self.spans]}")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_worker_and_bridge_export_one_trace_over_otlp(protocol: str, stack: Stack, tmp_path: Path) -> None:
    """S3 and SQS calls and the webhook POST are spans of the stem's trace; log lines carry its ids."""
    collector = OtlpCollector(protocol)
    good, text = f"exported-{protocol.split('/')[0]}", f"exported-text-{protocol.split('/')[0]}"
    env = {**stack.env(), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.start(), "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
           "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=key-1", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    stack.put(f"uploads/{good}.wav", encode(sine(0.3)))
    stack.put(f"uploads/{text}.wav", b"words, not audio" * 20)
    worker = spawn("worker.py", env, tmp_path / "worker.log")
    bridge = spawn("sqs_bridge.py", env, tmp_path / "bridge.log")
    try:
        stack.send(hash_request(good, f"uploads/{good}.wav"))
        stack.send(hash_request(text, f"uploads/{text}.wav"))
        completions = {item.body["stemId"]: item for item in stack.standin.wait_for(COMPLETION, 2, timeout=60)}
        completion = completions[good]
        trace_id, parent = trace_parent_ids(completion.headers["traceparent"])
        trace_bytes, parent_bytes = trace_id.to_bytes(16, "big"), parent.to_bytes(8, "big")

        def in_trace() -> dict[bytes, ExportedSpan]:
            return {span.span_id: span for span in collector.spans if span.trace_id == trace_bytes}

        def whole_trace_exported() -> bool:
            names = {(span.service, span.name) for span in in_trace().values()}
            return parent_bytes in in_trace() and {
                ("waveflow-bridge", "receive SQS message"), ("waveflow-worker", "RunWorkflow:StemIngestWorkflow"),
                ("waveflow-worker", "RunActivity:analyse_small_and_complete"), ("waveflow-worker", "S3.GetObject"),
                ("waveflow-worker", "S3.PutObject")} <= names

        collector.wait_until(whole_trace_exported)
    finally:
        stop_process(bridge)
        stop_process(worker)
        collector.stop()
    assert collector.keys == {"key-1"}, "every export carries OTEL_EXPORTER_OTLP_HEADERS"
    spans = in_trace()
    post = spans[parent_bytes]  # the webhook's traceparent names the HTTP client span that sent it
    assert (post.service, post.name) == ("waveflow-worker", "POST")
    assert spans[post.parent_span_id].name == "RunActivity:analyse_small_and_complete"
    s3_calls = [span for span in spans.values() if span.name.startswith("S3.")]
    # The worker's inside its activities; the bridge's success-record lookup inside the message's receive.
    assert {spans[span.parent_span_id].name for span in s3_calls} <= {
        "receive SQS message", "RunActivity:download_small_and_send_hash_check",
        "RunActivity:analyse_small_and_complete"}, s3_calls
    sqs_calls = [span for span in collector.spans if span.service == "waveflow-bridge" and span.name.startswith("SQS.")]
    assert {"SQS.ReceiveMessage", "SQS.DeleteMessageBatch"} <= {span.name for span in sqs_calls}
    # A line logged inside a trace names it: the not-audio stem's one WARNING, from inside its analysis.
    failed_trace, _ = trace_parent_ids(completions[text].headers["traceparent"])
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if line.get("stemId") == text and line["level"] == "WARNING"]
    assert warning["trace_id"] == failed_trace.to_bytes(16, "big").hex(), warning
    assert any(span.span_id.hex() == warning["span_id"] and span.name == "RunActivity:analyse_small_and_complete"
               for span in collector.spans), warning


@pytest.mark.parametrize(("environ", "exporters"), [
    ({}, []),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, [HttpSpanExporter]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, [HttpSpanExporter]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     [GrpcSpanExporter]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, [GrpcSpanExporter]),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, [HttpSpanExporter]),
    ({"OTEL_TRACES_EXPORTER": "console"}, [ConsoleSpanExporter]),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, [HttpSpanExporter, ConsoleSpanExporter]),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
])
def test_the_standard_variables_choose_the_exporters(environ: dict[str, str], exporters: list[type]) -> None:
    assert [type(exporter) for exporter in exporters_from(environ)] == exporters


@pytest.mark.parametrize(("environ", "named"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
      "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "zstd"),
])
def test_a_setting_waveflow_cannot_follow_is_one_line_at_start(environ: dict[str, str], named: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=f"waveflow: invalid environment: .*{named}"):
        configure_tracing("waveflow-test")


@pytest.mark.parametrize(("environ", "sampler"), [
    ({}, "ParentBased{root:AlwaysOnSampler,"),
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
     "ParentBased{root:TraceIdRatioBased{0.25},"),
    ({"OTEL_TRACES_SAMPLER": "always_off"}, "AlwaysOffSampler"),
])
def test_the_sampler_is_the_standard_variables(environ: dict[str, str], sampler: str) -> None:
    done = configured_in_a_process("from opentelemetry import trace; "
                                   "print(trace.get_tracer_provider().sampler.get_description())",
                                   {"OTEL_TRACES_EXPORTER": "console", **environ})
    assert done.stdout.strip().startswith(sampler), done.stderr[-2000:]


@pytest.mark.parametrize(("environ", "interceptors"), [
    ({}, "[]"),
    ({"OTEL_TRACES_EXPORTER": "none"}, "[]"),
    ({"OTEL_TRACES_EXPORTER": "console"}, "['TracingInterceptor']"),
])
def test_the_tracing_interceptor_is_only_where_tracing_is_on(environ: dict[str, str], interceptors: str) -> None:
    """As the worker and the bridge configure it before they connect."""
    done = configured_in_a_process("from temporal_client import interceptors; "
                                   "print([type(interceptor).__name__ for interceptor in interceptors()])", environ)
    assert done.stdout.strip() == interceptors, done.stderr[-2000:]


def configured_in_a_process(probe: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`probe` run after `configure_tracing`, in a process of its own: the tracer provider is set once per process."""
    code = f"from waveflow.tracing import configure_tracing; configure_tracing('probe'); {probe}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **environ})
