"""References resolve: every cited section of docs/reference exists, no text names a file outside the
repository, and no text speaks the tracker's vocabulary (docs/architecture.md, "The never-rules").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import REPO

# what users and maintainers read: code, templates, schemas, docs, bundled profiles, the README
READ_BY_PEOPLE = ("src", "templates", "schemas", "docs", "profiles", "scripts", "bench")
TEXT_SUFFIXES = {".py", ".j2", ".md", ".json", ".yaml", ".yml", ".sh", ".txt", ".toml", ""}

CITATION = re.compile(r"docs/reference/([\w-]+\.md)((?:[ ,;/]*(?:§\s?\d+(?:\.\d+)*(?:-\d+)?|(?:items?|rules?) \d+))*)")
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)(?:-(\d+))?|(?:items?|rules?) (\d+)")
HEADING = re.compile(r"^#+\s+(\d+(?:\.\d+)*)[.\s]", re.MULTILINE)

# a background document by its bare name, a path of a particular machine, or the tracker's words
OUTSIDE = re.compile(
    r"(?<![\w/\[(-])(?:kernel|anchors|anchors-2026|arm64-measured|style-study|dump-formats)\.md"
    r"|(?<![\w.-])shared/(?:reference|captures)|/work/|\.\./shared\b"
)
TRACKER = re.compile(r"\b[Ii]ssues? \d+\b|\b[Ii]ssue \d+ item\b|\blab part \d\b|\bitem \d+ of (?:the )?issue\b")


def people_files(*tops: str) -> list[Path]:
    files = [REPO / "README.md"]
    for top in tops:
        files += [p for p in (REPO / top).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                  and "__pycache__" not in p.parts]
    return sorted(files)


def sections_of(doc: str) -> set[str]:
    return set(HEADING.findall((REPO / "docs" / "reference" / doc).read_text(encoding="utf-8")))


def cited_sections(text: str) -> list[tuple[str, str]]:
    """(document, section) for every citation of docs/reference in ``text``."""
    found: list[tuple[str, str]] = []
    for match in CITATION.finditer(text):
        doc, tail = match.group(1), match.group(2)
        chapter = ""
        for sec in SECTION.finditer(tail):
            if sec.group(3):  # "§7 item 26": an item of the chapter cited just before
                found.append((doc, f"{chapter}.{sec.group(3)}"))
                continue
            number = sec.group(1)
            chapter = number.split(".")[0]
            found.append((doc, number))
            if sec.group(2) and "." in number:  # "§7.22-24": the range's last rule too
                found.append((doc, f"{number.rsplit('.', 1)[0]}.{sec.group(2)}"))
    return found


def test_every_cited_section_exists() -> None:
    files = people_files(*READ_BY_PEOPLE, "tests")
    known = {doc.name: sections_of(doc.name) for doc in (REPO / "docs" / "reference").glob("*.md")}
    missing = set()
    for path in files:
        for doc, section in cited_sections(path.read_text(encoding="utf-8", errors="replace")):
            if doc not in known or section not in known[doc]:
                missing.add(f"{path.relative_to(REPO)}: docs/reference/{doc} §{section}")
    assert not missing, sorted(missing)


@pytest.mark.parametrize("top", READ_BY_PEOPLE)
def test_no_text_names_a_file_outside_the_repository(top: str) -> None:
    bad = [f"{p.relative_to(REPO)}:{n}: {line.strip()[:100]}" for p in people_files(top)
           for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
           if OUTSIDE.search(line)]
    assert not bad, bad


@pytest.mark.parametrize("top", READ_BY_PEOPLE)
def test_no_tracker_vocabulary(top: str) -> None:
    bad = [f"{p.relative_to(REPO)}:{n}: {line.strip()[:100]}" for p in people_files(top)
           for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
           if TRACKER.search(line)]
    assert not bad, bad


def test_the_checks_catch_what_they_look_for() -> None:
    assert cited_sections("docs/reference/kernel-rules.md §7.22-24, §3.5, §7 item 26") == [
        ("kernel-rules.md", "7.22"), ("kernel-rules.md", "7.24"), ("kernel-rules.md", "3.5"),
        ("kernel-rules.md", "7"), ("kernel-rules.md", "7.26")]
    assert OUTSIDE.search("see kernel.md §7") and OUTSIDE.search("in shared/captures/x")
    assert not OUTSIDE.search("docs/reference/kernel-rules.md §7 and docs/reference/dump-formats.md §1")
    assert TRACKER.search("issue 2 item 4") and TRACKER.search("Lab part 2".lower())
    assert "99.9" not in sections_of("kernel-rules.md")
