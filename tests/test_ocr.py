"""OCR of scanned pages: searchable chunks with page citations and word boxes, garbage text layers read
again, one failing page named while the others are stored, and failures remembered by content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from test_loaders import REPORT_PAGES, SHARED_RELEASES, write_pdf

from synthtune.ingest import ocr as ocr_module
from synthtune.ingest import pipeline
from synthtune.ingest.loaders import load_document
from synthtune.ingest.ocr import OCRError, OCROptions, ocr_available, parse_tsv

needs_tesseract = pytest.mark.skipif(
    not ocr_available(), reason="needs tesseract-ocr (make test installs it)"
)


def scanned_pdf(path: Path, pages: list[str], dpi: int = 150) -> Path:
    """An image-only PDF: each text page typeset, rendered at ``dpi`` and kept only as a picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = write_pdf(path.with_suffix(".typeset.pdf"), pages)
    pdf = pdfium.PdfDocument(source)
    images = [pdf[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(len(pdf))]
    pdf.close()
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    source.unlink()
    return path


@needs_tesseract
def test_scanned_pdf_gets_searchable_chunks_with_page_citations_and_boxes(make_project, tmp_path) -> None:
    path = scanned_pdf(tmp_path / "docs" / "scan.pdf", REPORT_PAGES)
    assert not any(p.has_text for p in load_document(path).pages)  # no text layer at all

    p = make_project()
    report = p.ingest([path])

    assert (report.added, report.failed, report.pages, report.ocr_pages) == (1, [], 3, 3)
    (doc,) = p.documents()
    pages = p.store.pages(doc.id)
    assert [(pg.page_no, pg.has_text, pg.ocr) for pg in pages] == [
        (1, True, True),
        (2, True, True),
        (3, True, True),
    ]
    assert "Operating margin rose to 14 percent" in pages[1].text
    assert [r.page_no for r in p.store.ocr_pages()] == [1, 2, 3]

    hit = p.search("operating margin percent", mode="lexical")[0]
    assert (hit.page_start, hit.page_end) == (2, 2)
    (passage,) = p.store.passages([hit.chunk_id])
    assert passage.text == pages[1].text[passage.char_start : passage.char_end]

    # every word has its character span in the page text and a box on the page, in points
    boxes = pages[1].metadata["ocr"]
    assert boxes["units"] == "pt" and boxes["engine"].startswith("tesseract")
    width, height = 595.3, 841.9  # A4, as fpdf lays the pages out
    for start, end, x0, y0, x1, y1 in boxes["words"]:
        word = pages[1].text[start:end]
        assert word and not any(ch.isspace() for ch in word)
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    line_texts = [pages[1].text[s:e] for s, e, *_ in boxes["lines"]]
    assert "Operating margin rose to 14 percent." in line_texts


def test_ocr_never_refuses_a_scanned_pdf_and_says_why(make_project, tmp_path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES[:1])
    p = make_project({"ingest": {"ocr": "never"}})

    report = p.ingest([path])

    assert report.failed == [
        {"path": str(path), "error": "no text layer on any page; scanned? (ingest.ocr is 'never')"}
    ]


@needs_tesseract
def test_a_page_whose_ocr_fails_is_named_and_the_other_pages_are_stored(
    make_project, tmp_path, monkeypatch
) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES)
    real = ocr_module.ocr_image

    def failing_on_page_two(image, **kw):
        page = real(image, **kw)
        if "Operating margin" in page.text:
            raise OCRError("OCR timed out after 120 s")
        return page

    monkeypatch.setattr(ocr_module, "ocr_image", failing_on_page_two)
    p = make_project()
    report = p.ingest([path])

    assert report.added == 1 and report.ocr_pages == 2
    assert {
        "path": str(path),
        "warning": "page 2: no text layer; scanned?; OCR failed: OCR timed out after 120 s",
    } in (report.warnings)
    (doc,) = p.documents()
    assert [(pg.page_no, pg.has_text) for pg in p.store.pages(doc.id)] == [(1, True), (2, False), (3, True)]
    assert doc.metadata["pages_without_text"] == [2]


@needs_tesseract
def test_ocr_timeout_is_a_warning_per_page_not_an_error(tmp_path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES[:2])

    doc = load_document(path, ocr=OCROptions(timeout_s=0.001))

    assert [p.has_text for p in doc.pages] == [False, False]
    assert doc.warnings == [
        "page 1: no text layer; scanned?; OCR failed: OCR timed out after 0.001 s",
        "page 2: no text layer; scanned?; OCR failed: OCR timed out after 0.001 s",
    ]


@needs_tesseract
def test_always_reads_text_pages_by_ocr_too(tmp_path) -> None:
    path = write_pdf(tmp_path / "typeset.pdf", REPORT_PAGES[:1])

    doc = load_document(path, ocr=OCROptions(mode="always"))

    assert doc.pages[0].ocr and "Revenue was 120 million dollars" in doc.pages[0].text
    assert doc.metadata["ocr_pages"] == [1]


def test_tesseract_tsv_becomes_text_with_word_and_line_spans() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t10\t96\tNet",
        "5\t1\t1\t1\t1\t2\t45\t20\t50\t10\t95\tsales",
        "5\t1\t1\t1\t2\t1\t10\t40\t20\t10\t90\tup",
        "5\t1\t2\t1\t1\t1\t10\t80\t40\t10\t91\t$12.5",
        "4\t1\t2\t1\t1\t0\t10\t80\t40\t10\t-1\t",
    ]

    page = parse_tsv("\n".join([header, *rows]), scale=0.5, engine="tesseract 5")

    assert page.text == "Net sales\nup\n\n$12.5"
    assert [page.text[w.start : w.end] for w in page.words] == ["Net", "sales", "up", "$12.5"]
    assert [page.text[s.start : s.end] for s in page.lines] == ["Net sales", "up", "$12.5"]
    assert page.lines[0].box == (5.0, 10.0, 47.5, 15.0)


@pytest.mark.shared_data
@needs_tesseract
@pytest.mark.skipif(not SHARED_RELEASES.is_dir(), reason="needs ../shared/data/earnings_releases")
def test_a_text_layer_of_garbage_is_read_by_ocr(make_project) -> None:
    name = "MCDONALDS_2022Q4_EARNINGS.pdf"  # fonts without a Unicode map: control-character garbage
    p = make_project()

    report = p.ingest([SHARED_RELEASES / name])

    assert report.added == 1 and report.ocr_pages == 9
    (doc,) = p.documents()
    text = "\n".join(pg.text for pg in p.store.pages(doc.id))
    assert "McDonald's" in text.replace("\u2019", "'") and "comparable sales" in text


# --------------------------------------------------------------------------------- failures by content


def test_a_file_that_failed_is_not_read_again_while_unchanged(make_project, tmp_path, monkeypatch) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES[:1])
    p = make_project({"ingest": {"ocr": "never"}})
    first = p.ingest([path])
    assert len(first.failed) == 1 and first.known_failures == 0

    def must_not_read(*_a, **_k):
        raise AssertionError("an unchanged file that failed was read again")

    monkeypatch.setattr(pipeline, "read_file", must_not_read)
    copy = shutil.copy(path, tmp_path / "copy-of-scan.pdf")  # same content elsewhere: known too
    again = p.ingest([path, copy])

    assert again.known_failures == 2
    assert [f["error"] for f in again.failed] == [first.failed[0]["error"]] * 2
    assert {(f.source_path, f.sha256 != "") for f in p.store.failures()} == {
        (str(path), True),
        (str(copy), True),
    }

    monkeypatch.undo()
    path.write_bytes(path.read_bytes() + b"\n")  # changed content: read again
    assert p.ingest([path]).known_failures == 0


@needs_tesseract
def test_other_reading_settings_retry_a_failed_file(make_project, tmp_path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", REPORT_PAGES[:1])
    assert len(make_project({"ingest": {"ocr": "never"}}).ingest([path]).failed) == 1

    p = make_project({"ingest": {"ocr": "auto"}})  # the same store folder, OCR now on
    report = p.ingest([path])

    assert (report.added, report.failed, report.known_failures) == (1, [], 0)
    assert p.store.failures() == []
