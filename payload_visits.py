"""The SDK's payload walks over workflow activations and completions, skipped where they cannot change anything.

temporalio 1.35 walks every activation three times and every completion three times, looking for payloads to pass
through a payload codec and external storage, whether or not either is configured. WaveFlow configures neither, so
each walk hands every payload back unchanged; under load the walks took a ninth of the worker's time holding the
GIL. `skip_idle_payload_walks` has the worker skip them while its data converter has neither a codec nor external
storage; with either, the SDK's own functions run. It touches two module functions of the SDK, checked by name and
parameters first: an SDK whose functions differ keeps its own (and logs so), and nothing else changes.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import temporalio.bridge.worker as bridge_worker
from temporalio.converter import DataConverter
from temporalio.converter._extstore import StorageOperationMetrics

log = logging.getLogger("waveflow.worker")

_PARAMETERS = {"decode_activation": ["activation", "data_converter", "decode_headers", "storage_concurrency_limit"],
               "encode_completion": ["completion", "data_converter", "encode_headers", "storage_concurrency_limit"]}


def _walks_nothing(data_converter: DataConverter) -> bool:
    return data_converter.payload_codec is None and data_converter.external_storage is None


def _skipping(name: str, sdk_function: Any) -> Any:
    async def walk_when_needed(message: Any, data_converter: DataConverter, *args: Any,
                               **kwargs: Any) -> StorageOperationMetrics:
        if _walks_nothing(data_converter):
            return StorageOperationMetrics()
        result: StorageOperationMetrics = await sdk_function(message, data_converter, *args, **kwargs)
        return result

    walk_when_needed.__name__ = name
    walk_when_needed.__wrapped__ = sdk_function  # type: ignore[attr-defined]
    return walk_when_needed


def skip_idle_payload_walks() -> bool:
    """Installs the skip once per process; whether it is in place."""
    functions = {name: getattr(bridge_worker, name, None) for name in _PARAMETERS}
    if all(getattr(function, "__wrapped__", None) is not None for function in functions.values()):
        return True
    for name, function in functions.items():
        if function is None or list(inspect.signature(function).parameters) != _PARAMETERS[name]:
            log.warning("this temporalio's %s is not the one WaveFlow knows: its payload walks stay", name)
            return False
    for name, function in functions.items():
        setattr(bridge_worker, name, _skipping(name, function))
    return True
