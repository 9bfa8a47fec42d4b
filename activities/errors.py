"""How domain errors cross into Temporal: non-retryable failures whose type is the stable error code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.exceptions import ApplicationError

from waveflow.errors import TempSpaceError, WaveFlowError


@contextlib.contextmanager
def as_application_errors() -> Iterator[None]:
    try:
        yield
    except WaveFlowError as error:
        raise ApplicationError(error.message, type=error.code, non_retryable=True) from None
    except TempSpaceError as error:
        raise ApplicationError(str(error), type=error.code) from None
