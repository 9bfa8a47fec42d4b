"""What a mixdown request may ask for: checked in the workflow, so every refusal reaches the server as a webhook."""

from __future__ import annotations

from waveflow.contract import FailureResult
from waveflow.errors import ErrorCode
from waveflow.validation import check_s3_key


def check_stem_paths(stem_paths: list[str] | None, max_stems: int) -> FailureResult | None:
    """None when the list can be mixed; else the named reason (`no_stems`, `too_many_stems`,
    `invalid_stem_path`), with the same key checks a stem's `filepath` passes."""
    if not stem_paths:
        what = "missing" if stem_paths is None else "empty"
        return FailureResult(error=f"stem_paths is {what}: a mix needs at least one stem",
                             error_code=ErrorCode.NO_STEMS)
    if len(stem_paths) > max_stems:
        return FailureResult(error=f"{len(stem_paths)} stems asked for; a mix takes at most {max_stems}",
                             error_code=ErrorCode.TOO_MANY_STEMS)
    for index, path in enumerate(stem_paths):
        try:
            check_s3_key(path)
        except ValueError as error:
            return FailureResult(error=f"stem_paths[{index}] {path[:100]!r}: {error}",
                                 error_code=ErrorCode.INVALID_STEM_PATH)
    return None
