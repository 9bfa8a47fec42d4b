"""How domain errors cross into Temporal: non-retryable failures whose type is the stable error code.

A damaged or non-audio file is an expected outcome, not a fault of WaveFlow: it is logged here as one line with
its code and marked benign, so the SDK logs it at DEBUG without a traceback and counts no activity failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from waveflow.errors import TempSpaceError, WaveFlowError


@contextlib.contextmanager
def as_application_errors() -> Iterator[None]:
    try:
        yield
    except WaveFlowError as error:
        activity.logger.warning("%s: %s", error.code, error.message, extra={"errorCode": error.code})
        raise ApplicationError(error.message, type=error.code, non_retryable=True,
                               category=ApplicationErrorCategory.BENIGN) from None
    except TempSpaceError as error:
        raise ApplicationError(str(error), type=error.code) from None
