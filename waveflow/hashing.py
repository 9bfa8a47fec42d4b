"""Hash bytes while they are written: the download is the only pass over them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

HASHED_INLINE_BELOW = 256 * 1024
"""Smaller chunks are hashed in the calling thread: a helper thread would cost more than it overlaps."""


def copy_and_hash(chunks: Iterable[bytes], output: BinaryIO, on_chunk: Callable[[int], None] | None = None,
                  ) -> tuple[str, int]:
    """Write every chunk to `output`, return (lowercase hex SHA-256, byte count).

    hashlib releases the GIL on large buffers, so each large chunk is hashed on a helper thread while it is
    written: the hash costs no extra wall time beside the write.
    """
    digest = hashlib.sha256()
    size = 0
    pending: Future[None] | None = None
    hasher: ThreadPoolExecutor | None = None
    try:
        for chunk in chunks:
            if pending is not None:
                pending.result()
                pending = None
            if len(chunk) < HASHED_INLINE_BELOW:
                digest.update(chunk)
            else:
                hasher = hasher or ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
                pending = hasher.submit(digest.update, chunk)
            output.write(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(size)
        if pending is not None:
            pending.result()
    finally:
        if hasher is not None:
            hasher.shutdown()
    return digest.hexdigest(), size
