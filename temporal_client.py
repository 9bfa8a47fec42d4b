"""The one way WaveFlow connects to Temporal: the CLI's own environment and profiles, pydantic payloads."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

DEFAULT_ADDRESS = "localhost:7233"


def interceptors() -> list[TracingInterceptor]:
    """What every client (and so every worker) runs with; the replay tests replay histories with the same."""
    return [TracingInterceptor()]


async def connect(runtime: Runtime | None = None, *, lazy: bool = False) -> Client:
    """TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles work as in `temporal`.

    `lazy` connects on the first call instead, for a process that must start while Temporal is away.
    The tracing interceptor carries the caller's trace into workflows and activities (workers built on this
    client get it too); it costs nothing while no tracer provider is installed.
    """
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", DEFAULT_ADDRESS)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime, lazy=lazy,
                                    interceptors=interceptors())
    except RuntimeError as error:
        raise SystemExit(f"waveflow: cannot connect to Temporal at {config['target_host']}: "
                         f"{str(error).splitlines()[0]}") from None


class TemporalTrouble(StrEnum):
    UNAVAILABLE = "temporal_unavailable"
    """Away or overloaded for now: wait and try again."""
    MISCONFIGURED = "misconfigured"
    """Temporal answers, but refuses what WaveFlow asks as configured: retrying the same call cannot help."""


_CONFIGURATION_ERRORS = {RPCStatusCode.NOT_FOUND, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED,
                         RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNIMPLEMENTED}


def trouble_of(error: BaseException) -> TemporalTrouble | None:
    """What a failed call to Temporal says about it; None for an error that is not Temporal's."""
    if isinstance(error, RPCError):
        return TemporalTrouble.MISCONFIGURED if error.status in _CONFIGURATION_ERRORS else TemporalTrouble.UNAVAILABLE
    if isinstance(error, TimeoutError):
        return TemporalTrouble.UNAVAILABLE
    if isinstance(error, RuntimeError) and str(error).startswith("Failed client connect"):
        return TemporalTrouble.UNAVAILABLE  # a lazy client that has not reached the server yet
    return None


def describe_error(error: BaseException) -> str:
    """One line: the gRPC status and the server's own words."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"{error.status.name}: {message}" if isinstance(error, RPCError) else message


async def probe(client: Client, timeout: timedelta) -> None:
    """One cheap call that needs the server, the namespace and the credentials to be right; raises otherwise."""
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace),
                                                     timeout=timeout)
