"""OpenTelemetry tracing, configured by the standard `OTEL_*` variables as every OpenTelemetry SDK reads them.

Tracing is on when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
or `OTEL_TRACES_EXPORTER` names an exporter; off with `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`, and
then every span is a no-op. `OTEL_TRACES_EXPORTER` is `otlp` (the default), `console` or both (`otlp,console`);
the OTLP protocol is `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (the
default, port 4318) or `grpc` (port 4317). The exporters read their own endpoint, headers, certificates, compression
and timeout; the SDK reads the sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`) and the batch settings
(`OTEL_BSP_*`). The service name is `OTEL_SERVICE_NAME`, by default the process's role; `OTEL_RESOURCE_ATTRIBUTES`
adds to the resource. A value WaveFlow cannot follow stops the process at start with one line naming it.

Beside the spans the Temporal interceptor makes (workflow, activities), every S3 and SQS call (botocore, and the
small objects' GETs and PUTs through obstore) and every webhook POST (urllib3) and health probe (httpx) is a span
of its own. With tracing off, the Temporal interceptor is left out too (`tracing_on`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROTOCOLS = {"grpc": GrpcSpanExporter, "http/protobuf": HttpSpanExporter}


class TracingConfigError(ValueError):
    """An `OTEL_*` variable names an exporter or protocol this service does not have."""


def exporters_from(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The span exporters the variables ask for (`OTEL_TRACES_EXPORTER` may list several); none when tracing is
    off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if not named and any(environ.get(name) for name in ENDPOINT_VARIABLES):
        named = ["otlp"]
    if named == ["none"]:
        return []
    unknown = sorted(set(named) - {"otlp", "console"})
    if unknown:
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}: WaveFlow exports to otlp, "
                                 "console or none")
    return [_otlp_exporter(environ) if name == "otlp" else ConsoleSpanExporter() for name in named]


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip().lower()
    if protocol not in PROTOCOLS:
        raise TracingConfigError(f"OTLP protocol {protocol!r}: WaveFlow speaks {' or '.join(PROTOCOLS)}")
    try:
        return PROTOCOLS[protocol]()
    except Exception as error:  # the exporter's own reading of OTEL_EXPORTER_OTLP_* (compression, certificates)
        raise TracingConfigError(f"OTLP exporter: {error}") from error


def tracing_on() -> bool:
    """Whether this process records spans: `configure_tracing` found an exporter (or a test installed a provider)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def configure_tracing(default_service_name: str) -> None:
    """Installs the global tracer provider (flushed at exit) and the S3, SQS and webhook client spans."""
    try:
        exporters = exporters_from(os.environ)
    except TracingConfigError as error:
        raise SystemExit(f"waveflow: invalid environment: {error}") from None
    if not exporters:
        return
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or default_service_name})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    URLLib3Instrumentor().instrument(tracer_provider=provider)
