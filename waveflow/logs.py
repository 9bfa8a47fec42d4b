"""Logs as one JSON object per line, carrying the stem id and workflow id (and, inside a trace, its trace and span
ids), with secrets scrubbed."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")
_TEMPORAL_CONTEXT = ("temporal_workflow", "temporal_activity")


def scrub(text: str) -> str:
    return _CREDENTIALS_IN_URL.sub(r"\g<scheme>***@", text)


class WaveFlowJsonFormatter(JsonFormatter):
    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = scrub(str(log_record.get("message", "")))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # joins the line to its trace in a tracing backend
            log_record["trace_id"] = format(span.trace_id, "032x")
            log_record["span_id"] = format(span.span_id, "016x")
        for key in _TEMPORAL_CONTEXT:
            context = log_record.pop(key, None)
            if isinstance(context, dict):
                workflow_id = context.get("workflow_id")
                log_record.setdefault("workflowId", workflow_id)
                if isinstance(workflow_id, str) and workflow_id.startswith("stem-"):
                    log_record.setdefault("stemId", workflow_id.removeprefix("stem-"))
                for name in ("activity_type", "workflow_type", "attempt", "run_id"):
                    if name in context:
                        log_record.setdefault(name, context[name])


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(WaveFlowJsonFormatter(timestamp=True))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
