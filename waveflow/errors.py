"""Errors that end a stem: each has a stable machine code and a message a person can read."""


class WaveFlowError(Exception):
    """A failure caused by the input itself: retrying cannot help."""

    code = "processing_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(WaveFlowError):
    code = "invalid_request"


class ObjectMissingError(WaveFlowError):
    code = "object_not_found"


class FileTooLargeError(WaveFlowError):
    code = "file_too_large"


class NotAudioError(WaveFlowError):
    code = "not_audio"


class DamagedAudioError(WaveFlowError):
    code = "damaged_audio"


class DeleteRefusedError(WaveFlowError):
    code = "delete_refused"


class WebhookRejectedError(WaveFlowError):
    code = "webhook_rejected"


class DecisionTimeoutError(WaveFlowError):
    code = "decision_timeout"


class AccessDeniedError(WaveFlowError):
    """AWS refused an action for lack of a permission: nothing changes until the policy does."""

    code = "access_denied"

    def __init__(self, action: str, resource: str, detail: str = "") -> None:
        reason = f" ({detail})" if detail else ""
        super().__init__(f"access denied: WaveFlow may not {action} on {resource}{reason}; "
                         f"grant it as docs/aws-iam.md shows")
        self.action = action
        self.resource = resource


class TempSpaceError(Exception):
    """The temp area has no room: worth retrying later, once a sweep or another stem frees space."""

    code = "temp_space_exhausted"
