"""The repository stands alone: its docs link only to files it holds, and nothing outside docs/ points
at files a clone does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target)
# Spelled in parts so this file does not name them itself.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines()]


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    """Relative link targets in a Markdown file that name no file or folder (web links and anchors skipped)."""
    bad = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (doc.parent / target.split("#", 1)[0]).exists():
            bad.append(f"{doc.relative_to(root)}: {target}")
    return bad


def test_every_link_in_readme_and_docs_names_a_file_of_the_repository():
    docs = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    assert len(docs) >= 5
    bad = [b for d in docs for b in broken_links(d)]
    assert not bad, bad


def test_the_link_check_catches_a_missing_file(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("[ok](a.md) [web](https://example.org/x.md) [gone](missing/b.md#part) [anchor](#x)")
    assert broken_links(doc, tmp_path) == ["a.md: missing/b.md#part"]


def test_nothing_outside_docs_names_files_beside_the_repository():
    hits = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in _tracked()
        if path.is_file() and "docs" not in path.relative_to(ROOT).parts[:1]
        for word in OUTSIDE
        if word in path.read_text(errors="ignore")
    ]
    assert not hits, hits
