"""Loaders on fixtures built here: PDFs written with fpdf2, DOCX with python-docx, text in odd encodings."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw
from pypdf import PdfWriter

from synthtune.errors import LoaderError
from synthtune.ingest.loaders import DOCX, HTML, MARKDOWN, PDF, TEXT, load_document

# ------------------------------------------------------------------------------------------ fixtures


def _png() -> io.BytesIO:
    image = Image.new("RGB", (320, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 300, 180), outline="black", width=4)
    draw.text((40, 90), "scanned words, pixels only", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def write_pdf(
    path: Path,
    pages: list[str | None],
    title: str | None = None,
    user_password: str | None = None,
) -> Path:
    """One PDF page per item: a string is that page's text, None is a page holding only an image."""
    pdf = FPDF()
    if title is not None:
        pdf.set_title(title)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.image(_png(), x=20, y=20, w=160)
        else:
            pdf.multi_cell(0, 8, text)
    path.write_bytes(bytes(pdf.output()))
    return path


REPORT_PAGES = [
    "Acme Quarterly Report\nRevenue was 120 million dollars in the first quarter.",
    "Operating margin rose to 14 percent.\nThe café division grew fastest.",
    "Outlook: the company expects revenue of 130 million dollars next quarter.",
]


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "report.pdf", REPORT_PAGES, title="Acme Q1 2024 Earnings")


# ------------------------------------------------------------------------------------------------ PDF


def test_pdf_text_per_page_with_one_based_page_numbers(report_pdf: Path) -> None:
    doc = load_document(report_pdf)

    assert doc.media_type == PDF
    assert doc.title == "Acme Q1 2024 Earnings"
    assert [page.page_no for page in doc.pages] == [1, 2, 3]
    assert all(page.has_text for page in doc.pages)
    assert doc.pages[0].text.startswith("Acme Quarterly Report\nRevenue was 120 million")
    assert "Operating margin rose to 14 percent." in doc.pages[1].text
    assert "café division" in doc.pages[1].text
    assert "130 million" in doc.pages[2].text and "130 million" not in doc.pages[1].text
    assert doc.metadata["pages_without_text"] == []
    assert doc.warnings == []


def test_pdf_text_is_normalised_line_ends_and_no_trailing_spaces(report_pdf: Path) -> None:
    for page in load_document(report_pdf).pages:
        assert "\r" not in page.text
        assert all(line == line.rstrip(" \t") for line in page.text.split("\n"))


def test_pdf_title_falls_back_to_first_line_then_cleans_word_titles(tmp_path: Path) -> None:
    untitled = write_pdf(tmp_path / "untitled.pdf", ["Annual Review 2023\nbody text here"])
    assert load_document(untitled).title == "Annual Review 2023"

    word = write_pdf(tmp_path / "word.pdf", ["x"], title="Microsoft Word - Board Minutes.docx")
    assert load_document(word).title == "Board Minutes"

    numbers = write_pdf(tmp_path / "0001193125-23.pdf", ["42\n7"], title="0001193125-23-160746")
    assert load_document(numbers).title == "0001193125-23"  # neither is meaningful: the file stem


def test_pdf_image_only_page_is_reported_not_silently_empty(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", ["First page text.", "Second page text.", None])

    doc = load_document(path)

    assert [page.has_text for page in doc.pages] == [True, True, False]
    assert doc.pages[2].text == ""
    assert doc.pages[2].page_no == 3
    assert doc.metadata["pages_without_text"] == [3]
    assert doc.warnings == ["page 3: no text layer; scanned?"]


def test_pdf_with_no_text_at_all_still_loads(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "all-scanned.pdf", [None, None])

    doc = load_document(path)

    assert [page.has_text for page in doc.pages] == [False, False]
    assert doc.metadata["pages_without_text"] == [1, 2]
    assert doc.title == "all-scanned"


def test_encrypted_pdf_needs_the_right_password(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", ["Confidential revenue: 99 million."], user_password="s3cret")

    with pytest.raises(
        LoaderError, match=r"^encrypted PDF: give the password with --password or ingest\.password$"
    ):
        load_document(path)
    with pytest.raises(LoaderError, match="password is wrong"):
        load_document(path, password="guess")

    doc = load_document(path, password="s3cret")
    assert "Confidential revenue: 99 million." in doc.pages[0].text


def test_password_is_ignored_for_an_unencrypted_pdf(report_pdf: Path) -> None:
    assert len(load_document(report_pdf, password="unused").pages) == 3


def test_truncated_pdf(report_pdf: Path, tmp_path: Path) -> None:
    data = report_pdf.read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(data[: len(data) // 2])

    with pytest.raises(LoaderError, match=r"^not a valid PDF \(damaged or truncated\)$"):
        load_document(truncated)


def test_zero_byte_pdf(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(LoaderError, match="^empty file$"):
        load_document(path)


def test_junk_bytes_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LoaderError, match=r"not a valid PDF \(damaged or truncated\)"):
        load_document(path)


def test_html_saved_as_pdf_says_so(tmp_path: Path) -> None:
    path = tmp_path / "download.pdf"
    path.write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    with pytest.raises(LoaderError, match="not a valid PDF: the file is an HTML page"):
        load_document(path)


def test_pdf_under_another_name_is_read_as_pdf(report_pdf: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "report.txt"
    misnamed.write_bytes(report_pdf.read_bytes())

    doc = load_document(misnamed)

    assert doc.media_type == PDF
    assert len(doc.pages) == 3


def test_pdf_without_pages(tmp_path: Path) -> None:
    path = tmp_path / "nopages.pdf"
    PdfWriter().write(path)
    with pytest.raises(LoaderError, match="^PDF has no pages$"):
        load_document(path)


def test_text_that_mentions_the_pdf_header_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# PDF notes\n\nEvery PDF starts with %PDF-1.7 in its first bytes.\n")
    assert load_document(path).media_type == MARKDOWN


SHARED_RELEASES = Path(__file__).resolve().parents[2] / "shared" / "data" / "earnings_releases"


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_RELEASES.is_dir(), reason="needs ../shared/data/earnings_releases")
def test_real_earnings_releases_have_clean_page_text() -> None:
    names = ["BESTBUY_2023Q4_EARNINGS.pdf", "COSTCO_2023Q1_EARNINGS.pdf", "MCDONALDS_2022Q4_EARNINGS.pdf"]
    for name in names:
        doc = load_document(SHARED_RELEASES / name)
        assert doc.pages, name
        for page in doc.pages:
            # pdfium's U+FFFE markers are resolved, control characters from broken fonts removed
            assert "\ufffe" not in page.text and "\r" not in page.text, (name, page.page_no)
            assert not any(ord(ch) < 32 and ch not in "\t\n" for ch in page.text), (name, page.page_no)

    best_buy = load_document(SHARED_RELEASES / "BESTBUY_2023Q4_EARNINGS.pdf")
    assert any("non-GAAP diluted EPS" in page.text for page in best_buy.pages)  # a U+FFFE hyphen in pdfium
    assert best_buy.title == "Best Buy Reports Fiscal Fourth Quarter Results"  # "Microsoft Word - " removed

    # A "fi" ligature with no Unicode: pdfium writes U+FFFE; the word is completed and the page says so.
    costco = load_document(SHARED_RELEASES / "COSTCO_2023Q1_EARNINGS.pdf")
    assert "for the first quarter" in costco.pages[0].text
    assert costco.pages[0].metadata["repairs"]["ligatures"] > 0
    assert not any("\ufffd" in page.text for page in costco.pages)
    assert costco.title == "Costco Wholesale Corporation Reports First Quarter"  # "NEWS RELEASE" skipped

    # Fonts without a Unicode map: pdfium returns control-character garbage for every page.
    garbage = load_document(SHARED_RELEASES / "MCDONALDS_2022Q4_EARNINGS.pdf")
    assert not any(page.has_text for page in garbage.pages)
    assert all("text layer unreadable" in warning for warning in garbage.warnings)


# ----------------------------------------------------------------------------------------------- HTML

PAGE_HTML = """<!DOCTYPE html>
<html><head>
  <title>Acme  Investor
  Relations</title>
  <style>.secret-style { color: red }</style>
  <script>var secretScript = "SCRIPT-TEXT";</script>
</head>
<body>
  <header><a href="/">SITE-HEADER-TEXT</a></header>
  <nav><ul><li>NAV-TEXT Home</li><li>About</li></ul></nav>
  <div role="navigation">ROLE-NAV-TEXT</div>
  <main>
    <h1>Third Quarter Results</h1>
    <p>Revenue grew   to <b>$5.1 billion</b>,
       up 8 percent.</p>
    <p>Line one<br>Line two</p>
    <span aria-hidden="true">HIDDEN-ICON-TEXT</span>
    <noscript>NOSCRIPT-TEXT</noscript>
    <h2>Segment <span aria-hidden="true">#</span>Results</h2>
    <table>
      <caption>Revenue by segment</caption>
      <tr><th>Segment</th><th>Q3</th><th>Q2</th></tr>
      <tr><td>Retail</td><td>3.0</td><td>2.8</td></tr>
      <tr><td>Cloud</td><td>2.1</td><td>1.9</td></tr>
    </table>
    <ul><li>First point</li><li>Second point</li></ul>
    <form><label>FORM-TEXT</label><input name="q"></form>
    <template>TEMPLATE-TEXT</template>
    <div hidden>HIDDEN-ATTR-TEXT</div>
    <!-- COMMENT-TEXT -->
  </main>
  <aside>ASIDE-TEXT</aside>
  <footer>FOOTER-TEXT &copy; Acme</footer>
</body></html>
"""


def test_html_keeps_readable_text_and_drops_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "ir.html"
    path.write_text(PAGE_HTML, encoding="utf-8")

    doc = load_document(path)
    text = doc.pages[0].text

    assert doc.media_type == HTML
    assert doc.title == "Acme Investor Relations"
    assert len(doc.pages) == 1
    for hidden in (
        "SCRIPT-TEXT",
        "secret-style",
        "SITE-HEADER-TEXT",
        "NAV-TEXT",
        "ROLE-NAV-TEXT",
        "HIDDEN-ICON-TEXT",
        "NOSCRIPT-TEXT",
        "FORM-TEXT",
        "TEMPLATE-TEXT",
        "HIDDEN-ATTR-TEXT",
        "COMMENT-TEXT",
        "ASIDE-TEXT",
        "FOOTER-TEXT",
    ):
        assert hidden not in text, hidden
    assert "Revenue grew to $5.1 billion, up 8 percent." in text
    assert "Line one\nLine two" in text
    assert "Segment | Q3 | Q2\nRetail | 3.0 | 2.8\nCloud | 2.1 | 1.9" in text
    assert "Revenue by segment" in text
    assert "First point\n\nSecond point" in text


def test_html_blocks_are_paragraphs_and_headings_have_offsets(tmp_path: Path) -> None:
    path = tmp_path / "ir.html"
    path.write_text(PAGE_HTML, encoding="utf-8")

    page = load_document(path).pages[0]

    assert page.text.startswith("Third Quarter Results\n\nRevenue grew")
    assert [heading for _, heading in page.headings] == ["Third Quarter Results", "Segment Results"]
    for offset, heading in page.headings:
        assert page.text[offset : offset + len(heading)] == heading
    assert "\n\n\n" not in page.text


def test_html_title_falls_back_to_h1_then_stem(tmp_path: Path) -> None:
    with_h1 = tmp_path / "a.htm"
    with_h1.write_text("<html><body><h1>Press Release</h1><p>Body.</p></body></html>")
    assert load_document(with_h1).title == "Press Release"

    bare = tmp_path / "notes.html"
    bare.write_text("<p>Just a paragraph.</p>")
    assert load_document(bare).title == "notes"


def test_article_header_is_kept_page_header_is_not(tmp_path: Path) -> None:
    path = tmp_path / "post.html"
    path.write_text(
        "<body><header>MENU</header><article><header><h1>Launch Day</h1></header>"
        "<p>We launched.</p></article></body>"
    )
    page = load_document(path).pages[0]
    assert page.text == "Launch Day\n\nWe launched."
    assert page.headings == [(0, "Launch Day")]


def test_html_declared_latin1_with_cp1252_bytes(tmp_path: Path) -> None:
    path = tmp_path / "legacy.html"
    html = '<html><head><meta charset="iso-8859-1"><title>Menu</title></head><body><p>Café au lait: 3 €</p></body></html>'
    path.write_bytes(html.encode("cp1252"))

    doc = load_document(path)

    assert doc.pages[0].text == "Café au lait: 3 €"
    assert doc.metadata["encoding"] == "cp1252"


def test_html_declared_utf8_but_written_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "liar.html"
    html = '<meta charset="utf-8"><p>Le café coûte 3 € aujourd\'hui, très cher.</p>'
    path.write_bytes(html.encode("cp1252"))
    assert load_document(path).pages[0].text == "Le café coûte 3 € aujourd'hui, très cher."


def test_html_without_declared_charset_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "nometa.html"
    path.write_bytes("<p>Prix du café : 4 € — très bon marché, déjà payé.</p>".encode("cp1252"))
    assert load_document(path).pages[0].text == "Prix du café : 4 € — très bon marché, déjà payé."


def test_html_with_only_scripts_has_no_text(tmp_path: Path) -> None:
    path = tmp_path / "app.html"
    path.write_text(
        "<html><head><title>App</title><script>boot()</script></head><body><nav>Menu</nav></body></html>"
    )
    with pytest.raises(LoaderError, match="^no text found$"):
        load_document(path)


def test_deeply_nested_html_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * 3000 + "deep" + "</div>" * 3000 + "<p>after</p></body></html>")
    assert load_document(path).pages[0].text == "deep\n\nafter"


# ------------------------------------------------------------------------------------------- Markdown

MARKDOWN_TEXT = """# Earnings Call Transcript

Intro paragraph.

## Prepared Remarks

Revenue rose.

```python
# not a heading, code
```

Q&A Session
-----------

Closing words. ##
"""


def test_markdown_keeps_text_and_records_headings(tmp_path: Path) -> None:
    path = tmp_path / "call.md"
    path.write_text(MARKDOWN_TEXT, encoding="utf-8")

    doc = load_document(path)
    page = doc.pages[0]

    assert doc.media_type == MARKDOWN
    assert doc.title == "Earnings Call Transcript"
    assert page.text == MARKDOWN_TEXT
    assert [heading for _, heading in page.headings] == [
        "Earnings Call Transcript",
        "Prepared Remarks",
        "Q&A Session",
    ]
    for offset, heading in page.headings:
        assert page.text[offset : offset + len(heading)] == heading


def test_markdown_title_from_front_matter_or_stem(tmp_path: Path) -> None:
    front = tmp_path / "front.markdown"
    front.write_text("---\ntitle: Board Letter\n---\n\n## Section\n\nText.\n")
    doc = load_document(front)
    assert doc.title == "Board Letter"
    assert [heading for _, heading in doc.pages[0].headings] == ["Section"]

    plain = tmp_path / "minutes.md"
    plain.write_text("## Only a level two heading\n\nText.\n")
    assert load_document(plain).title == "minutes"


def test_markdown_crlf_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes(b"# Title\r\n\r\nBody line\r\n")
    doc = load_document(path)
    assert doc.pages[0].text == "# Title\n\nBody line\n"
    assert doc.pages[0].headings == [(2, "Title")]


# ----------------------------------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    ("raw", "expected", "encoding"),
    [
        ("Le café coûte 3 € aujourd'hui.\n".encode("cp1252"), "Le café coûte 3 € aujourd'hui.\n", "cp1252"),
        ("Un café, s'il vous plaît.\n".encode("latin-1"), "Un café, s'il vous plaît.\n", "cp1252"),
        ("Straße, Größe, Übung.\n".encode("latin-1"), "Straße, Größe, Übung.\n", "cp1252"),
        ("Preis: 5 € für café\n".encode("utf-16"), "Preis: 5 € für café\n", "utf-16"),  # with BOM
        (b"\xef\xbb\xbf" + "café €\n".encode(), "café €\n", "utf-8-sig"),
        ("café €\n".encode(), "café €\n", "utf-8"),
    ],
    ids=["cp1252", "latin-1", "latin-1-german", "utf-16-bom", "utf-8-bom", "utf-8"],
)
def test_text_encodings_are_detected(tmp_path: Path, raw: bytes, expected: str, encoding: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(raw)

    doc = load_document(path)

    assert doc.media_type == TEXT
    assert doc.pages[0].text == expected
    assert doc.metadata["encoding"] == encoding
    assert doc.title == "note"


def test_cyrillic_legacy_text_is_not_forced_into_cp1252(tmp_path: Path) -> None:
    text = "Выручка компании выросла на восемь процентов по сравнению с прошлым годом.\n" * 3
    path = tmp_path / "ru.txt"
    path.write_bytes(text.encode("cp1251"))
    assert load_document(path).pages[0].text == text


def test_mostly_utf8_with_one_broken_byte_stays_utf8(tmp_path: Path) -> None:
    good = "Ünïcödé têxt wïth äccents éverywhere, naïve café résumé. " * 3
    path = tmp_path / "broken.txt"
    path.write_bytes(good.encode() + b"\xff tail\n")

    text = load_document(path).pages[0].text

    assert text.startswith(good)
    assert text.endswith("\ufffd tail\n")


def test_binary_junk_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(bytes(range(256)) * 16)
    with pytest.raises(LoaderError, match=r"^not a text file \(binary content\)$"):
        load_document(path)


def test_form_feeds_split_pages(tmp_path: Path) -> None:
    path = tmp_path / "paged.txt"
    path.write_text("Page one text.\r\n\fPage two text.\n\fPage three.\n\f")

    doc = load_document(path)

    assert [(page.page_no, page.text) for page in doc.pages] == [
        (1, "Page one text.\n"),
        (2, "Page two text.\n"),
        (3, "Page three.\n"),
    ]


def test_whitespace_only_text_has_no_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text(" \n\t\n  ")
    with pytest.raises(LoaderError, match="^no text found$"):
        load_document(path)


def test_zero_byte_text(tmp_path: Path) -> None:
    path = tmp_path / "zero.txt"
    path.touch()
    with pytest.raises(LoaderError, match="^empty file$"):
        load_document(path)


def test_unknown_suffix_with_text_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("2024-01-01 started\n")
    doc = load_document(path)
    assert doc.media_type == TEXT
    assert doc.pages[0].text == "2024-01-01 started\n"


def test_unknown_binary_type_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(LoaderError, match=r"^unsupported file type '\.png'$"):
        load_document(path)


def test_legacy_doc_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(LoaderError, match="legacy"):
        load_document(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="^file not found$"):
        load_document(tmp_path / "nope.pdf")
    with pytest.raises(LoaderError, match="directory"):
        load_document(tmp_path)


# ----------------------------------------------------------------------------------------------- DOCX


def write_docx(path: Path, core_title: str | None = None) -> Path:
    document = docx.Document()
    if core_title is not None:
        document.core_properties.title = core_title
    document.add_heading("Annual Report 2023", level=1)
    document.add_paragraph("Revenue reached 4.2 billion dollars.")
    document.add_paragraph("")
    document.add_paragraph("Margins improved in every region.")
    document.add_heading("Segments", level=2)
    table = document.add_table(rows=3, cols=3)
    rows = [("Segment", "2023", "2022"), ("Retail", "2.5", "2.1"), ("Cloud", "1.7", "1.2")]
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Closing remarks.")
    document.save(str(path))
    return path


def test_docx_paragraphs_headings_and_tables(tmp_path: Path) -> None:
    doc = load_document(write_docx(tmp_path / "annual.docx"))
    page = doc.pages[0]

    assert doc.media_type == DOCX
    assert doc.title == "Annual Report 2023"
    assert page.text == (
        "Annual Report 2023\n\n"
        "Revenue reached 4.2 billion dollars.\n\n"
        "Margins improved in every region.\n\n"
        "Segments\n\n"
        "Segment | 2023 | 2022\nRetail | 2.5 | 2.1\nCloud | 1.7 | 1.2\n\n"
        "Closing remarks."
    )
    assert [heading for _, heading in page.headings] == ["Annual Report 2023", "Segments"]
    for offset, heading in page.headings:
        assert page.text[offset : offset + len(heading)] == heading


def test_docx_title_from_core_properties(tmp_path: Path) -> None:
    doc = load_document(write_docx(tmp_path / "annual.docx", core_title="Acme Annual Report"))
    assert doc.title == "Acme Annual Report"


def test_docx_merged_cells_are_not_repeated(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 2))
    merged.text = "Full width"
    for cell, value in zip(table.rows[1].cells, ("a", "b", "c"), strict=True):
        cell.text = value
    path = tmp_path / "merged.docx"
    document.save(str(path))

    assert load_document(path).pages[0].text == "Full width\na | b | c"


def test_docx_under_another_name_is_read_as_docx(tmp_path: Path) -> None:
    original = write_docx(tmp_path / "annual.docx")
    misnamed = tmp_path / "annual.bin"
    misnamed.write_bytes(original.read_bytes())
    assert load_document(misnamed).media_type == DOCX


def test_damaged_docx(tmp_path: Path) -> None:
    data = write_docx(tmp_path / "annual.docx").read_bytes()
    truncated = tmp_path / "truncated.docx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoaderError, match=r"^not a valid DOCX"):
        load_document(truncated)

    junk = tmp_path / "junk.docx"
    junk.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(LoaderError, match=r"^not a valid DOCX"):
        load_document(junk)

    wrong_zip = tmp_path / "wrong.docx"
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("hello.txt", "not a word document")
    with pytest.raises(LoaderError, match=r"^not a valid DOCX"):
        load_document(wrong_zip)


def test_empty_docx_has_no_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    with pytest.raises(LoaderError, match="^no text found$"):
        load_document(path)
