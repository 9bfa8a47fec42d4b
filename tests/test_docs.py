"""The documentation stands on its own: every relative link resolves inside the repository, none leaves it."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED = {"tests", "__pycache__", "build"}
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    """Every file of the project outside the tests, without descending into hidden or generated folders."""
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name not in SKIPPED
                         and not name.endswith(".egg-info")]
        files += [Path(folder) / name for name in names]
    return files


def test_no_file_refers_to_a_sibling_folder_of_the_clone() -> None:
    outside = "../" + "shared"
    assert [str(path.relative_to(ROOT)) for path in repository_files()
            if outside in path.read_text(encoding="utf-8", errors="ignore")] == []


def test_every_relative_link_in_the_docs_resolves_inside_the_repository() -> None:
    broken = []
    for page in MARKDOWN:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []
