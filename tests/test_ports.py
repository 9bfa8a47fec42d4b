"""The stack's servers each get a port no other test process is given, outside the range `bind(0)` draws from."""

from __future__ import annotations

import json
import subprocess
import sys

from devstack.processes import ROOT, _ephemeral_floor, free_port


def test_another_process_is_never_given_a_port_this_one_holds() -> None:
    held = {free_port() for _ in range(300)}
    claimed_elsewhere = subprocess.run(
        [sys.executable, "-c", "import json; from devstack.processes import free_port; "
                               "print(json.dumps([free_port() for _ in range(3000)]))"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout

    others = set(json.loads(claimed_elsewhere))
    assert len(held) == 300 and len(others) == 3000
    assert not held & others


def test_ports_lie_below_the_ephemeral_range() -> None:
    assert all(port < _ephemeral_floor() for port in (free_port() for _ in range(100)))
