"""The one way WaveFlow connects to Temporal: the CLI's own environment and profiles, pydantic payloads."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from waveflow.namespace import SEARCH_ATTRIBUTES, SearchAttribute, register_search_attributes_command
from waveflow.tracing import tracing_on

DEFAULT_ADDRESS = "localhost:7233"
log = logging.getLogger("waveflow.temporal")


def interceptors() -> list[TracingInterceptor]:
    """What every client (and so every worker) runs with; the replay tests replay histories with the same. The
    tracing interceptor only where spans are recorded: with no tracer provider it would still carry an empty
    context through every workflow task and activity, about 2% of a busy worker's CPU."""
    return [TracingInterceptor()] if tracing_on() else []


def connect_config(environ: Mapping[str, str] | None = None) -> ClientConnectConfig:
    """What `connect` passes to Client.connect: the CLI's environment variables and profiles, read from `environ`
    (the process's own by default). An empty variable is an unset one: `TEMPORAL_API_KEY=` must not switch TLS
    on, nor `TEMPORAL_NAMESPACE=` ask for a namespace named ""."""
    given = {name: value for name, value in (os.environ if environ is None else environ).items() if value}
    config = ClientConfig.load_client_connect_config(override_env_vars=given)
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(runtime: Runtime | None = None, *, lazy: bool = False) -> Client:
    """TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles work as in `temporal`.

    `lazy` connects on the first call instead, for a process that must start while Temporal is away.
    When tracing is on (configure it first), the tracing interceptor carries the caller's trace into workflows and
    activities; workers built on this client get it too.
    """
    config = connect_config()
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


class NamespaceNotReadyError(Exception):
    """The namespace lacks what WaveFlow needs of it; the message names it and the command that mends it."""


def trouble_of(error: BaseException) -> TemporalTrouble | None:
    """What a failed call to Temporal says about it; None for an error that is not Temporal's."""
    if isinstance(error, NamespaceNotReadyError):
        return TemporalTrouble.MISCONFIGURED
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


async def check_reachable(client: Client, timeout: timedelta) -> None:
    """One cheap call that needs the server, the namespace and the credentials to be right; raises otherwise."""
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace),
                                                     timeout=timeout)


def _type_name(indexed_value_type: int) -> str:
    """`INDEXED_VALUE_TYPE_KEYWORD_LIST` → `KeywordList`, as the CLI spells it."""
    words = IndexedValueType.Name(indexed_value_type).removeprefix("INDEXED_VALUE_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


async def check_search_attributes(client: Client, timeout: timedelta) -> None:
    """Raises NamespaceNotReadyError naming every search attribute WaveFlow sets that the namespace lacks or types
    otherwise: Temporal would fail the workflow task of each stem that sets it, for ever."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace), timeout=timeout)
    except RPCError as error:
        if error.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        # Credentials that may run workflows but not list attributes: the check is a guard, not a requirement.
        log.warning("cannot check the search attributes of namespace %s (%s); make sure they are registered",
                    client.namespace, describe_error(error))
        return
    registered = {name: _type_name(value) for name, value in
                  {**listed.system_attributes, **listed.custom_attributes}.items()}
    missing: list[SearchAttribute] = []
    problems: list[str] = []
    for attribute in SEARCH_ATTRIBUTES:
        found = registered.get(attribute.name)
        if found is None:
            missing.append(attribute)
            problems.append(f"{attribute.name} ({attribute.type}) is not registered")
        elif found != attribute.type:
            problems.append(f"{attribute.name} is registered as {found}, not {attribute.type}: it cannot be "
                            "retyped; remove it (temporal operator search-attribute remove) and register it again")
    if not problems:
        return
    remedy = (f"; register: {register_search_attributes_command(client.namespace, tuple(missing), one_line=True)}"
              if missing else "")
    raise NamespaceNotReadyError(f"namespace {client.namespace} is not ready for TEMPORAL_SEARCH_ATTRIBUTES=true: "
                                 f"{'; '.join(problems)}{remedy}")


async def namespace_retention(client: Client, timeout: timedelta) -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace), timeout=timeout)
    return described.config.workflow_execution_retention_ttl.ToTimedelta()
