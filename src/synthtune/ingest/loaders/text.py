"""Plain text and Markdown, and the decoding of text bytes that HTML shares."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page

TEXT = "text/plain"
MARKDOWN = "text/markdown"

_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # tabs, newlines, \v and \f are text
WESTERN = "cp1252"  # also the right reading of a file that says latin-1 (WHATWG does the same)


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding). UTF-8 (with or without BOM) first, then UTF-16/32 with a BOM, then
    charset_normalizer with a preference for cp1252 when it reads the bytes as cleanly as the best
    guess (short Western text is otherwise often guessed as cp1250 or worse)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return check_textual(data.decode(encoding, errors="replace")), encoding
    sample = data[:8192]
    if b"\x00" in sample:
        encoding = _bomless_utf16(sample)
        if encoding is None:
            raise LoaderError("not a text file (binary content)")
        return check_textual(data.decode(encoding, errors="replace")), encoding
    try:
        return check_textual(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    n_bad = text.count("\ufffd")
    n_non_ascii = len(text) - len(text.encode("ascii", errors="ignore")) - n_bad
    if n_non_ascii >= 20 * n_bad:  # mostly valid UTF-8 with a few broken bytes
        return check_textual(text), "utf-8"

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise LoaderError("not a text file (binary content)")
    encoding = best.encoding
    if encoding != WESTERN:
        western = charset_normalizer.from_bytes(data, cp_isolation=[WESTERN]).best()
        if (
            western is not None
            and western.chaos <= best.chaos + 0.01
            and western.coherence >= best.coherence - 0.05
        ):
            encoding = WESTERN
    return check_textual(data.decode(encoding, errors="replace")), encoding


def _bomless_utf16(sample: bytes) -> str | None:
    half = len(sample) // 2
    if half < 2:
        return None
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls >= 0.9 * half and even_nuls == 0:
        return "utf-16-le"
    if even_nuls >= 0.9 * half and odd_nuls == 0:
        return "utf-16-be"
    return None


def check_textual(text: str) -> str:
    sample = text[:65536]
    bad = len(_TEXT_CONTROL.findall(sample)) + sample.count("\ufffd")
    if bad > 0.05 * max(len(sample), 1):
        raise LoaderError("not a text file (binary content)")
    return text


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------- plain text


def load_text_bytes(data: bytes, stem: str) -> LoadedDocument:
    """Plain text: pages split on form feed when the file has them, else one page."""
    text, encoding = decode_text(data)
    text = _normalise_newlines(text)
    if not text.strip():
        raise LoaderError("no text found")
    parts = text.split("\f")
    while len(parts) > 1 and not parts[-1].strip():  # a trailing form feed ends the last page
        parts.pop()
    pages = [Page(i, part, has_text=bool(part.strip())) for i, part in enumerate(parts, start=1)]
    return LoadedDocument(stem, TEXT, pages, {"warnings": [], "encoding": encoding})


# ------------------------------------------------------------------------------------------ Markdown

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)


def load_markdown_bytes(data: bytes, stem: str) -> LoadedDocument:
    """Markdown stays as written (it reads well as text); headings are recorded with their offsets."""
    text, encoding = decode_text(data)
    text = _normalise_newlines(text)
    if not text.strip():
        raise LoaderError("no text found")
    headings, h1, front_title = markdown_headings(text)
    title = h1 or front_title or stem
    page = Page(1, text, headings=[(offset, heading) for offset, _, heading in headings])
    return LoadedDocument(title, MARKDOWN, [page], {"warnings": [], "encoding": encoding})


def markdown_headings(text: str) -> tuple[list[tuple[int, int, str]], str | None, str | None]:
    """(offset, level, heading) for ATX and setext headings outside code fences and front matter,
    the first level-1 heading, and the front-matter title."""
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1

    start = 0
    front_title = None
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                match = _FRONT_TITLE.search("\n".join(lines[1:i]))
                front_title = match.group(1).strip("'\"") if match else None
                start = i + 1
                break

    headings: list[tuple[int, int, str]] = []
    fence: str | None = None
    prev_is_paragraph_start = False  # previous line is a single-line paragraph (setext candidate)
    for i in range(start, len(lines)):
        line = lines[i]
        fence_match = _FENCE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            prev_is_paragraph_start = False
            continue
        atx = _ATX.match(line)
        if atx and atx.group(2):
            headings.append((offsets[i] + line.index(atx.group(2)), len(atx.group(1)), atx.group(2)))
            prev_is_paragraph_start = False
            continue
        setext = _SETEXT.match(line)
        if setext and prev_is_paragraph_start:
            heading = lines[i - 1].strip()
            level = 1 if setext.group(1)[0] == "=" else 2
            headings.append((offsets[i - 1] + lines[i - 1].index(heading), level, heading))
            prev_is_paragraph_start = False
            continue
        stripped = line.strip()
        prev_blank = i == start or not lines[i - 1].strip()
        prev_is_paragraph_start = (
            bool(stripped)
            and prev_blank
            and not line.startswith(("    ", "\t"))
            and not re.match(r"^([-*+]|\d+[.)])\s", stripped)
            and not stripped.startswith((">", "|", "<"))
        )
    h1 = next((heading for _, level, heading in headings if level == 1), None)
    return headings, h1, front_title
