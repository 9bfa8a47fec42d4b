"""Errors that end a stem or a mix: each has a stable machine code and a message a person can read.

`ErrorCode` is the one list of the codes a FAILURE webhook can carry; docs/contract.md's table is held to it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    OBJECT_NOT_FOUND = "object_not_found"
    FILE_TOO_LARGE = "file_too_large"
    NOT_AUDIO = "not_audio"
    DAMAGED_AUDIO = "damaged_audio"
    AUDIO_TOO_LONG = "audio_too_long"
    DECISION_TIMEOUT = "decision_timeout"
    DELETE_REFUSED = "delete_refused"
    WEBHOOK_REJECTED = "webhook_rejected"
    INVALID_REQUEST = "invalid_request"
    ACCESS_DENIED = "access_denied"
    TEMP_SPACE_EXHAUSTED = "temp_space_exhausted"
    """Internal: retried until the step's deadline, then reported as `timeout` quoting it."""
    HOST_UNAVAILABLE = "host_unavailable"
    """Internal: the host holding a file did not pick up its step; the workflow falls back to any host."""
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    NO_STEMS = "no_stems"
    TOO_MANY_STEMS = "too_many_stems"
    INVALID_STEM_PATH = "invalid_stem_path"
    MIX_TOO_LONG = "mix_too_long"
    TEMP_BUDGET_EXCEEDED = "temp_budget_exceeded"
    PROCESSING_FAILED = "processing_failed"


REPORTED_CODES = frozenset(ErrorCode) - {ErrorCode.HOST_UNAVAILABLE, ErrorCode.TEMP_SPACE_EXHAUSTED}
"""The codes a server can receive; the internal ones lead to a retry, never to a FAILURE webhook of their own."""


class WaveFlowError(Exception):
    """A failure caused by the input itself: retrying cannot help."""

    code: str = ErrorCode.PROCESSING_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its message and code whatever the subclass's own arguments: it crosses from a decoding process.
        return _rebuilt, (type(self), self.message, self.code)


def _rebuilt(kind: type[WaveFlowError], message: str, code: str) -> WaveFlowError:
    error = Exception.__new__(kind)
    Exception.__init__(error, message)
    error.message = message
    error.code = code
    return error


class InvalidRequestError(WaveFlowError):
    code: str = ErrorCode.INVALID_REQUEST


class ObjectMissingError(WaveFlowError):
    code: str = ErrorCode.OBJECT_NOT_FOUND


class FileTooLargeError(WaveFlowError):
    code: str = ErrorCode.FILE_TOO_LARGE


class NotAudioError(WaveFlowError):
    code: str = ErrorCode.NOT_AUDIO


class DamagedAudioError(WaveFlowError):
    code: str = ErrorCode.DAMAGED_AUDIO


class AudioTooLongError(WaveFlowError):
    code: str = ErrorCode.AUDIO_TOO_LONG


class MixTooLongError(WaveFlowError):
    code: str = ErrorCode.MIX_TOO_LONG


class DeleteRefusedError(WaveFlowError):
    code: str = ErrorCode.DELETE_REFUSED


class WebhookRejectedError(WaveFlowError):
    code: str = ErrorCode.WEBHOOK_REJECTED


class DecisionTimeoutError(WaveFlowError):
    code: str = ErrorCode.DECISION_TIMEOUT


class AccessDeniedError(WaveFlowError):
    """AWS refused an action for lack of a permission: nothing changes until the policy does."""

    code: str = ErrorCode.ACCESS_DENIED

    def __init__(self, action: str, resource: str, detail: str = "") -> None:
        reason = f" ({detail})" if detail else ""
        super().__init__(f"access denied: WaveFlow may not {action} on {resource}{reason}; "
                         f"grant it as docs/aws-iam.md shows")
        self.action = action
        self.resource = resource


class TempBudgetExceededError(WaveFlowError):
    """A stem or mix needs more temp disk than a host's whole budget: no host can take it, retrying cannot help."""

    code: str = ErrorCode.TEMP_BUDGET_EXCEEDED


class TempSpaceError(Exception):
    """The temp area has no room: worth retrying later, once a sweep or another stem frees space."""

    code: str = ErrorCode.TEMP_SPACE_EXHAUSTED
