"""The one way WaveFlow connects to Temporal: the CLI's own environment and profiles, pydantic payloads."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

DEFAULT_ADDRESS = "localhost:7233"


async def connect(runtime: Runtime | None = None) -> Client:
    """TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles work as in `temporal`."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", DEFAULT_ADDRESS)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)
    except RuntimeError as error:
        raise SystemExit(f"waveflow: cannot connect to Temporal at {config['target_host']}: "
                         f"{str(error).splitlines()[0]}") from None
