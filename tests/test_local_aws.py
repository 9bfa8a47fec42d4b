"""The local SQS keeps what production SQS keeps: a message sent while another is deleted."""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from moto.sqs.models import Queue, sqs_backends

from devstack.local_aws import MOTO_DELETE_MESSAGE, REGION, delete_under_the_queue_lock
from tests.enforced_aws import ACCOUNT_ID


@pytest.fixture
def moto_as_shipped() -> Iterator[None]:
    patched = Queue.delete_message
    Queue.delete_message = MOTO_DELETE_MESSAGE  # type: ignore[method-assign]
    yield
    Queue.delete_message = patched  # type: ignore[method-assign]


def delete_and_send_in_between(backend: Any, queue_name: str, receipt_handle: str) -> None:
    """Delete a message; at the line where moto's delete puts its new message list in place, send another from a
    second thread, waiting for that send only as long as the delete lets it run."""
    code = MOTO_DELETE_MESSAGE.__code__
    source, first_line = inspect.getsourcelines(MOTO_DELETE_MESSAGE)
    replacing_line = first_line + next(index for index, line in enumerate(source)
                                       if "self._messages = new_messages" in line)
    sender = threading.Thread(target=backend.send_message, args=(queue_name, "sent meanwhile"))

    def on_line(frame: FrameType, event: str, _: object) -> Any:
        if event == "line" and frame.f_lineno == replacing_line and sender.ident is None:
            sender.start()
            sender.join(timeout=0.5)
        return on_line

    sys.settrace(lambda frame, event, _: on_line if frame.f_code is code else None)
    try:
        backend.delete_message(queue_name, receipt_handle)
    finally:
        sys.settrace(None)
    assert sender.ident is not None, "the delete never reached the line that replaces the message list"
    sender.join()


@pytest.mark.parametrize("locked", [False, True], ids=["moto-as-shipped", "under-the-queue-lock"])
def test_a_message_sent_during_a_delete_is_lost_only_without_the_lock(moto_as_shipped: None, locked: bool) -> None:
    if locked:
        delete_under_the_queue_lock()
    backend = sqs_backends[ACCOUNT_ID][REGION]
    name = f"sent-during-delete-{locked}"
    backend.create_queue(name)
    backend.send_message(name, "to delete")
    [received] = backend.receive_message(name, 1, 0, 30)

    delete_and_send_in_between(backend, name, received.receipt_handle)

    left = [message.body for message in backend.get_queue(name)._messages]
    assert left == (["sent meanwhile"] if locked else [])
