"""What every loader returns: a document as a list of pages of plain text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Page:
    page_no: int  # 1-based, as cited
    text: str
    has_text: bool = True  # False: the page has no text layer (a scanned image?)
    # (offset into text, heading) for each heading the loader recognised, in order
    headings: list[tuple[int, str]] = field(default_factory=list)
    ocr: bool = False  # True: the text was read from the page image, not from a text layer
    # what the loader knows about the page beyond its text: OCR word/line boxes, repairs made
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedDocument:
    title: str
    media_type: str
    pages: list[Page]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.metadata.get("warnings", []))
