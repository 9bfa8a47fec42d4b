"""The documentation stands on its own: every relative link resolves inside the repository, none leaves it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    skipped = {"tests", "__pycache__"}
    return [path for path in ROOT.rglob("*") if path.is_file() and not any(
        part.startswith(".") or part in skipped or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)]


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
