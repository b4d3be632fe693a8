"""HTML: readable text only, blocks as paragraphs, tables as rows, h1-h6 as headings."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from bs4 import BeautifulSoup, NavigableString, Tag

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page
from synthtune.ingest.loaders.text import WESTERN, check_textual, decode_text

HTML = "text/html"
_HTML_DROP = frozenset(
    "script style noscript nav header footer aside form svg template head title meta link base "  # noqa: SIM905
    "iframe object embed canvas audio video button select map".split()
)
_HTML_BLOCK = frozenset(
    "address article blockquote body center dd details dialog dir div dl dt fieldset figcaption figure "  # noqa: SIM905
    "hgroup hr html li main menu ol p section summary ul caption legend".split()
)
_HTML_HEADINGS = frozenset(f"h{level}" for level in range(1, 7))
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""")


def load_html_bytes(data: bytes, stem: str) -> LoadedDocument:
    text, encoding = decode_html(data)
    return load_html_text(text, stem, encoding)


def decode_html(data: bytes) -> tuple[str, str]:
    """A BOM, then a declared charset (<meta charset>, http-equiv, <?xml encoding>), then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_text(data)
    head = data[:4096]
    declared = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            encoding = None
        if encoding in ("latin-1", "iso8859-1", "ascii"):
            encoding = WESTERN
        # A "utf-16" meta in bytes that have no BOM is wrong; so is any declaration the bytes contradict.
        if encoding is not None and not encoding.startswith("utf-16") and b"\x00" not in data[:8192]:
            try:
                return check_textual(data.decode(encoding)), encoding
            except UnicodeDecodeError:
                pass
    return decode_text(data)


def load_html_text(html: str, stem: str, encoding: str = "utf-8") -> LoadedDocument:
    """Readable text only: scripts, styles, navigation, headers, footers, forms and hidden elements are
    dropped; blocks become paragraphs separated by blank lines; tables become rows of cells joined by
    " | "; h1-h6 are recorded as headings."""
    soup = BeautifulSoup(html, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else ""
    writer = _HtmlText()
    writer.walk(soup)
    text = writer.text()
    if not text.strip():
        raise LoaderError("no text found")
    if not title:
        title = next((heading for _, heading, level in writer.headings if level == 1), "") or stem
    page = Page(1, text, headings=[(offset, heading) for offset, heading, _ in writer.headings])
    return LoadedDocument(title, HTML, [page], {"warnings": [], "encoding": encoding})


def _html_hidden(tag: Tag) -> bool:
    # A page's <header> is branding and menus; an article's <header> holds its title: keep that one.
    if tag.name in _HTML_DROP and (tag.name != "header" or tag.find_parent(("article", "main")) is None):
        return True
    attrs = tag.attrs
    if not attrs:
        return False
    if attrs.get("aria-hidden") == "true" or attrs.get("role") == "navigation" or "hidden" in attrs:
        return True
    style = attrs.get("style")
    return bool(style) and "display:none" in style.replace(" ", "").lower()


def _is_text(node: object) -> bool:
    # Comments, CDATA, doctypes and processing instructions are NavigableString subclasses.
    return type(node) is NavigableString


def _inline_text(tag: Tag, keep_whitespace: bool = False) -> str:
    """The visible text under tag, hidden elements skipped; whitespace collapsed unless asked not to."""
    parts: list[str] = []
    stack: list[object] = [tag]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node is not tag and _html_hidden(node):
                continue
            if node.name == "br":
                parts.append("\n")
            elif node.name in ("td", "th", "li", "p", "div", "tr") and node is not tag:
                parts.append(" ")
            stack.extend(reversed(node.contents))
        elif _is_text(node):
            parts.append(str(node))
    joined = "".join(parts)
    return joined if keep_whitespace else " ".join(joined.split())


class _HtmlText:
    """Walks the tree once, iteratively (deeply nested pages must not hit the recursion limit)."""

    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self.headings: list[tuple[int, str, int]] = []  # (offset, text, level)
        self._length = 0
        self._inline: list[str | None] = []  # None is a <br>: the only line break inside a paragraph

    def text(self) -> str:
        self._flush()
        return "\n\n".join(self.paragraphs)

    def _add(self, paragraph: str) -> int:
        if self.paragraphs:
            self._length += 2
        offset = self._length
        self.paragraphs.append(paragraph)
        self._length += len(paragraph)
        return offset

    def _flush(self) -> None:
        if not self._inline:
            return
        lines: list[list[str]] = [[]]
        for part in self._inline:
            if part is None:
                lines.append([])
            else:
                lines[-1].append(part)
        self._inline.clear()
        collapsed = (" ".join("".join(line).split()) for line in lines)
        paragraph = "\n".join(line for line in collapsed if line)
        if paragraph:
            self._add(paragraph)

    def walk(self, root: Tag) -> None:
        end_of_block = object()
        stack: list[object] = list(reversed(root.contents))
        handlers: dict[str, Callable[[Tag], None]] = {"table": self._table, "pre": self._pre}
        while stack:
            node = stack.pop()
            if node is end_of_block:
                self._flush()
            elif isinstance(node, Tag):
                name = node.name
                if _html_hidden(node):
                    continue
                if name in _HTML_HEADINGS:
                    self._flush()
                    heading = _inline_text(node)
                    if heading:
                        self.headings.append((self._add(heading), heading, int(name[1])))
                elif name in handlers:
                    self._flush()
                    handlers[name](node)
                elif name == "br":
                    self._inline.append(None)
                elif name in _HTML_BLOCK:
                    self._flush()
                    stack.append(end_of_block)
                    stack.extend(reversed(node.contents))
                else:
                    stack.extend(reversed(node.contents))
            elif _is_text(node):
                self._inline.append(str(node))

    def _table(self, table: Tag) -> None:
        caption = table.find("caption")
        if caption is not None and caption.find_parent("table") is table:
            text = _inline_text(caption)
            if text:
                self._add(text)
        rows = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table or _html_hidden(row):
                continue
            cells = [_inline_text(cell) for cell in row.find_all(("td", "th"), recursive=False)]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self._add("\n".join(rows))

    def _pre(self, pre: Tag) -> None:
        lines = [line.rstrip() for line in _inline_text(pre, keep_whitespace=True).split("\n")]
        text = "\n".join(lines).strip("\n")
        if text.strip():
            self._add(text)
