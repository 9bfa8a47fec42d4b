"""Node.js packages, Chromium and promtool for the tests. CI runs as root on Debian with npm and apt reachable, so
what is missing is installed; where that is impossible the test is skipped with the reason, never passed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.node_packages import ToolUnavailableError, apt_install, installed_copy


def installed_package(source: Path, name: str) -> Path:
    try:
        return installed_copy(source, name, install_npm=True)
    except ToolUnavailableError as reason:
        pytest.skip(str(reason))


def debian_tool(command: str, package: str) -> str:
    found = shutil.which(command)
    if found is None:
        try:
            apt_install(package)
        except ToolUnavailableError as reason:
            pytest.skip(f"{command} unavailable: {reason}")
        found = shutil.which(command)
    return found or pytest.skip(f"{command} still missing after apt-get install {package}")


def chromium() -> str:
    return shutil.which("chromium-browser") or debian_tool("chromium", "chromium")


def promtool() -> str:
    return debian_tool("promtool", "prometheus")
