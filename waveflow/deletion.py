"""When a duplicate may be deleted: the only rule that lets WaveFlow remove an original from S3."""

from __future__ import annotations

from waveflow.errors import DeleteRefusedError


def check_duplicate_delete(*, stem_key: str, decided_key: str, computed_hash: str, decided_hash: str | None,
                           allowed_prefixes: tuple[str, ...], requested_prefixes: tuple[str, ...] = ()) -> None:
    """Refuse, with the reason, any delete but the stem's own object whose hash the server confirmed.

    `allowed_prefixes` are the worker's own setting; `requested_prefixes` come with the workflow input, which
    anyone able to start a workflow writes, so they can only narrow what the worker allows, never widen it.
    """
    if decided_key != stem_key:
        raise DeleteRefusedError(
            f"delete refused: the decision names {decided_key!r} but this stem's object is {stem_key!r}"
        )
    if decided_hash is None or decided_hash.lower() != computed_hash.lower():
        raise DeleteRefusedError(
            f"delete refused: the decision's audio_hash {decided_hash!r} differs from the hash WaveFlow "
            f"computed ({computed_hash})"
        )
    for prefixes in (allowed_prefixes, requested_prefixes):
        if prefixes and not any(in_folder(stem_key, prefix) for prefix in prefixes):
            raise DeleteRefusedError(
                f"delete refused: {stem_key!r} is outside the allowed prefixes {', '.join(prefixes)}"
            )


def in_folder(key: str, prefix: str) -> bool:
    """A prefix names a folder: `uploads` and `uploads/` both hold `uploads/a.wav`, neither `uploads-private/a.wav`."""
    return key.startswith(prefix if prefix.endswith("/") else f"{prefix}/")
