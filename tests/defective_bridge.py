"""`sqs_bridge.py` with a defect put back on purpose, for the chaos runner to find: one stem message in four is
acknowledged without reaching Temporal, as when a message is deleted before Temporal accepted it and the hand-over
then fails. `python -m tests.defective_bridge`."""

from __future__ import annotations

import itertools
from typing import Any

import sqs_bridge
from waveflow.messages import ParsedMessage
from waveflow.settings import Settings

_handed = itertools.count()
_hand_over = sqs_bridge.hand_over


async def _lossy_hand_over(client: Any, settings: Settings, parsed: ParsedMessage, sqs_message_id: str) -> Any:
    if parsed.request is not None and next(_handed) % 4 == 3:
        return None
    return await _hand_over(client, settings, parsed, sqs_message_id)


sqs_bridge.hand_over = _lossy_hand_over

if __name__ == "__main__":
    sqs_bridge.main()
