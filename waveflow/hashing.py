"""Hash bytes while they are written: the download is the only pass over them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import BinaryIO


def copy_and_hash(chunks: Iterable[bytes], output: BinaryIO, on_chunk: Callable[[int], None] | None = None,
                  ) -> tuple[str, int]:
    """Write every chunk to `output`, return (lowercase hex SHA-256, byte count)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        output.write(chunk)
        size += len(chunk)
        if on_chunk is not None:
            on_chunk(size)
    return digest.hexdigest(), size
