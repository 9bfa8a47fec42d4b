"""Node.js and Chromium for the tests. CI runs as root on Debian with npm and apt reachable, so what is missing
is installed; where that is impossible the test is skipped with the reason, never passed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.node_packages import NodeUnavailableError, apt_install, installed_copy


def installed_package(source: Path, name: str) -> Path:
    try:
        return installed_copy(source, name, install_npm=True)
    except NodeUnavailableError as reason:
        pytest.skip(str(reason))


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        try:
            apt_install("chromium")
        except NodeUnavailableError as reason:
            pytest.skip(f"headless Chromium unavailable: {reason}")
        found = shutil.which("chromium")
    return found or pytest.skip("chromium still missing after apt-get install chromium")
