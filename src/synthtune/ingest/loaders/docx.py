"""DOCX: paragraphs and tables in document order; Heading/Title styles become headings."""

from __future__ import annotations

from pathlib import Path

import docx
from docx.table import Table

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page
from synthtune.ingest.loaders.titles import clean_title

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def load_docx(path: Path) -> LoadedDocument:
    """Paragraphs and tables in document order; Heading/Title styles become headings."""
    try:
        document = docx.Document(str(path))
        paragraphs: list[str] = []
        headings: list[tuple[int, str]] = []
        length = 0
        first_heading = title_style = None
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                text, heading, style_name = _docx_table_text(block), False, ""
            else:
                text = block.text.strip()
                style_name = (block.style.name if block.style is not None else "") or ""
                heading = style_name == "Title" or style_name.lower().startswith("heading")
            if not text:
                continue
            if paragraphs:
                length += 2
            if heading:
                headings.append((length, text))
                if style_name == "Title" and title_style is None:
                    title_style = text
                first_heading = first_heading or text
            paragraphs.append(text)
            length += len(text)
        core_title = document.core_properties.title
    except Exception as exc:  # python-docx raises many kinds (zip, XML, missing parts) for damaged files
        raise LoaderError("not a valid DOCX (damaged, or not a Word document)") from exc

    text = "\n\n".join(paragraphs)
    if not text.strip():
        raise LoaderError("no text found")
    title = clean_title(core_title) or title_style or first_heading or path.stem
    page = Page(1, text, headings=headings)
    return LoadedDocument(title, DOCX, [page], {"warnings": []})


def _docx_table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell repeats for every grid column it spans
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
