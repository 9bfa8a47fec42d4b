"""Hash bytes while they are written: the download is the only pass over them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO


def copy_and_hash(chunks: Iterable[bytes], output: BinaryIO, on_chunk: Callable[[int], None] | None = None,
                  ) -> tuple[str, int]:
    """Write every chunk to `output`, return (lowercase hex SHA-256, byte count).

    hashlib releases the GIL on large buffers, so each chunk is hashed on a helper thread while it is
    written: the hash costs no extra wall time beside the write.
    """
    digest = hashlib.sha256()
    size = 0
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher:
        for chunk in chunks:
            if pending is not None:
                pending.result()
            pending = hasher.submit(digest.update, chunk)
            output.write(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(size)
        if pending is not None:
            pending.result()
    return digest.hexdigest(), size
