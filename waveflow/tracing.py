"""OpenTelemetry tracing: exported over OTLP/HTTP when the standard `OTEL_*` variables ask for it, off otherwise.

The OTLP exporter reads its own endpoint, headers and protocol from `OTEL_EXPORTER_OTLP_*`; the service name
comes from `OTEL_SERVICE_NAME` (default: the process's role). With no endpoint set, or `OTEL_SDK_DISABLED=true`,
no provider is installed and every span is a no-op.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure_tracing(default_service_name: str) -> None:
    """Installs the global tracer provider with an OTLP/HTTP exporter (flushed at exit by the provider)."""
    if not tracing_requested():
        return
    service_name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
