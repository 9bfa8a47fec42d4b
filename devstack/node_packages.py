"""Node.js packages the stack needs (the demo page's waveform-data.js, the NestJS kit in the tests): installed
with `npm ci` from their lock file into `.devstack/node/<name>`, again only when the lock file changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from devstack.processes import ROOT, one_at_a_time

NODE_CACHE = ROOT / ".devstack" / "node"
BUILD_OUTPUTS = {"node_modules", "dist"}


class ToolUnavailableError(RuntimeError):
    """npm, a Debian package or an npm package could not be had: the reason, for a message or a skipped test."""


def run(command: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def apt_install(*packages: str) -> None:
    """Debian packages, when this process may install them (root, apt-get present); raises why not otherwise."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ToolUnavailableError(f"{', '.join(packages)} missing and not installable here (needs root and apt-get)")
    with one_at_a_time("apt"):
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends",
                                                  "-o", "DPkg::Lock::Timeout=600", *packages]):
            done = run(command, ROOT, timeout=900, DEBIAN_FRONTEND="noninteractive")
            if done.returncode != 0:
                raise ToolUnavailableError(f"`{' '.join(command)}` failed: {done.stderr[-500:]}")


def ensure_npm(*, install: bool) -> str:
    npm = shutil.which("npm")
    if npm is None and install:
        apt_install("nodejs", "npm")
        npm = shutil.which("npm")
    if npm is None:
        raise ToolUnavailableError("npm is not installed (Debian: apt-get install nodejs npm)")
    return npm


def installed_copy(source: Path, name: str, *, install_npm: bool = False) -> Path:
    """A copy of the package at `source` with its dependencies installed; sources are copied afresh each time."""
    npm = ensure_npm(install=install_npm)
    with one_at_a_time(f"npm-{name}"):
        return _installed_copy(npm, source, NODE_CACHE / name)


def _installed_copy(npm: str, source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.iterdir():
        if entry.name not in BUILD_OUTPUTS and not entry.name.startswith(".lock-"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
    stamp = target / f".lock-{hashlib.sha256((source / 'package-lock.json').read_bytes()).hexdigest()[:16]}"
    if not stamp.exists() or not (target / "node_modules").is_dir():
        done = run([npm, "ci", "--no-audit", "--no-fund"], target)
        if done.returncode != 0:
            raise ToolUnavailableError(f"npm ci failed for {source.relative_to(ROOT)}: {done.stderr[-800:]}")
        for old in target.glob(".lock-*"):
            old.unlink()
        stamp.touch()
    return target
