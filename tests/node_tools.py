"""Node.js packages for the tests: installed with npm from their lock file into `.devstack/node/<name>`.

CI runs as root on Debian with npm reachable: a missing `npm` is installed with apt-get. Where neither is
possible the test is skipped with the reason, never passed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.processes import ROOT

NODE_CACHE = ROOT / ".devstack" / "node"
BUILD_OUTPUTS = {"node_modules", "dist"}


def run(command: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def ensure_npm() -> str:
    npm = shutil.which("npm")
    if npm:
        return npm
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("npm is not installed and cannot be installed here (needs root and apt-get)")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "nodejs", "npm"]):
        done = run(command, ROOT, timeout=900, DEBIAN_FRONTEND="noninteractive")
        if done.returncode != 0:
            pytest.skip(f"npm is not installed and `{' '.join(command)}` failed: {done.stderr[-500:]}")
    return shutil.which("npm") or pytest.skip("npm still missing after apt-get install nodejs npm")


def installed_copy(source: Path, name: str) -> Path:
    """A copy of the package at `source` with its dependencies installed (`npm ci`, again only when its lock
    file changed); sources are copied afresh every time."""
    npm = ensure_npm()
    target = NODE_CACHE / name
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.iterdir():
        if entry.name not in BUILD_OUTPUTS and not entry.name.startswith(".lock-"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
    stamp = target / f".lock-{hashlib.sha256((source / 'package-lock.json').read_bytes()).hexdigest()[:16]}"
    if not stamp.exists() or not (target / "node_modules").is_dir():
        done = run([npm, "ci", "--no-audit", "--no-fund"], target)
        if done.returncode != 0:
            pytest.skip(f"npm ci failed for {source.relative_to(ROOT)} (registry unreachable?): {done.stderr[-800:]}")
        for old in target.glob(".lock-*"):
            old.unlink()
        stamp.touch()
    return target
