"""Document titles from metadata or first lines, cleaned of the noise authoring tools leave in them."""

from __future__ import annotations

import re

_TITLE_NOISE = re.compile(r"^(?:microsoft (?:word|powerpoint|excel)\s*-\s*)", re.IGNORECASE)
_FILE_EXT = re.compile(r"\.(?:pdf|docx?|rtf|odt|txt|indd|qxd|pptx?|xlsx?)$", re.IGNORECASE)
_PLACEHOLDER_TITLES = {"untitled", "title", "document", "untitled document", "powerpoint presentation"}


def clean_title(raw: str | None) -> str | None:
    """A metadata title worth showing, or None (empty, placeholder, a file name, an accession number)."""
    if not raw:
        return None
    title = " ".join(raw.split())
    title = _FILE_EXT.sub("", _TITLE_NOISE.sub("", title)).strip()
    if title.lower() in _PLACEHOLDER_TITLES or sum(ch.isalpha() for ch in title) < 3:
        return None
    return title[:200]


_BOILERPLATE_LINE = re.compile(
    r"^(?:news release|press release|for immediate release|exhibit [\d.]+|page \d+|[\d/.,:\- ]*)$",
    re.IGNORECASE,
)


def first_line_title(text: str) -> str | None:
    """The first short line of text that is not release boilerplate ("NEWS RELEASE", "Exhibit 99.1")."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    for line in [line for line in lines if line][:5]:
        if not _BOILERPLATE_LINE.match(line):
            return line if len(line) <= 120 and sum(ch.isalpha() for ch in line) >= 3 else None
    return None
