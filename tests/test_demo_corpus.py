"""The demo corpus in examples/acme: every gold fact is stated where gold.jsonl says, every figure of
the three dev sets (dev.jsonl, dev_sampled.jsonl, dev_rephrased.jsonl) is on the page they cite, and
examples/make_acme_docs.py reproduces the committed generated documents."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
ACME = ROOT / "examples" / "acme"
DOCS = ACME / "docs"
GOLD = ACME / "gold.jsonl"
DEV_SETS = (ACME / "dev.jsonl", ACME / "dev_sampled.jsonl", ACME / "dev_rephrased.jsonl")
SCRIPT = ROOT / "examples" / "make_acme_docs.py"

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Words an answer may wrap a number in ("$48.2 million", "$150 million to $156 million") that a table
# cell leaves out; anything else in the answer must appear verbatim.
NUMBER_WRAPPERS = {"million", "billion", "to"}


def normalise(text: str) -> str:
    return " ".join(text.split())


def pdf_pages(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    try:
        return [normalise(pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
    finally:
        pdf.close()


def docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return normalise("\n".join(parts))


def html_visible_text(path: Path) -> str:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["head", "script", "style", "nav", "footer"]):
        tag.decompose()
    return normalise(soup.get_text(" "))


def page_text(document: str, page: int) -> str:
    path = DOCS / document
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_pages(path)[page - 1]
    if suffix == ".docx":
        return docx_text(path)
    if suffix in (".html", ".htm"):
        return html_visible_text(path)
    return normalise(path.read_text(encoding="utf-8"))


def states(text: str, answer: str) -> bool:
    """Whether `text` states `answer`: verbatim (whitespace and case aside), or, for an amount such as
    "$48.2 million", every number in it as a whole number ("48.2", not "148.2" or "48.25")."""
    if normalise(answer).lower() in text.lower():
        return True
    numbers = NUMBER.findall(answer)
    words = re.findall(r"[A-Za-z]+", NUMBER.sub(" ", answer))
    if not numbers or any(w.lower() not in NUMBER_WRAPPERS for w in words):
        return False
    return all(re.search(rf"(?<![\d.,]){re.escape(n)}(?![\d]|[.,]\d)", text) for n in numbers)


def load_questions(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


GOLD_ROWS = load_questions(GOLD)
DEV_ROWS = [(path.name, row) for path in DEV_SETS for row in load_questions(path)]


def test_gold_rows_are_well_formed_and_cite_existing_documents():
    assert 30 <= len(GOLD_ROWS) <= 40
    assert len({row["question"] for row in GOLD_ROWS}) == len(GOLD_ROWS), "duplicate questions"
    for row in GOLD_ROWS:
        assert set(row) == {"question", "answer", "document", "page"}, row
        assert isinstance(row["question"], str) and row["question"].endswith("?"), row
        assert isinstance(row["answer"], str) and row["answer"].strip(), row
        assert isinstance(row["page"], int) and row["page"] >= 1, row
        path = DOCS / row["document"]
        assert path.is_file(), f"{row['document']} is not in {DOCS}"
        if path.suffix == ".pdf":
            assert row["page"] <= len(pdf_pages(path)), row
        else:  # md, txt, html and docx load as a single page
            assert row["page"] == 1, row


def test_gold_covers_every_document_and_every_pdf_page():
    cited = {(row["document"], row["page"]) for row in GOLD_ROWS}
    for path in sorted(DOCS.iterdir()):
        n_pages = len(pdf_pages(path)) if path.suffix == ".pdf" else 1
        for page in range(1, n_pages + 1):
            assert (path.name, page) in cited, f"no gold question cites {path.name} page {page}"


@pytest.mark.parametrize(
    "row", GOLD_ROWS, ids=[f"{r['document']}:p{r['page']}:{r['answer']}" for r in GOLD_ROWS]
)
def test_gold_answer_is_stated_on_the_cited_page(row):
    text = page_text(row["document"], row["page"])
    assert states(text, row["answer"]), f"{row['answer']!r} not found on {row['document']} page {row['page']}"


@pytest.mark.parametrize(
    ("question_set", "row"),
    DEV_ROWS,
    ids=[f"{n}:{r['document']}:p{r['page']}:{r['answer']}" for n, r in DEV_ROWS],
)
def test_dev_answer_figures_are_on_the_cited_page(question_set, row):
    """The dev sets choose the demo's settings, so a wrong page or figure there would mislead them."""
    assert not {"question", "answer", "document", "page"} ^ set(row), row
    assert row["question"].endswith("?") and row["document"] != "" and row["page"] >= 1, row
    text = page_text(row["document"], row["page"])
    numbers = NUMBER.findall(row["answer"])
    assert numbers, f"{question_set}: {row['answer']!r} states no figure"
    for n in numbers:
        found = re.search(rf"(?<![\d.,]){re.escape(n)}(?![\d]|[.,]\d)", text)
        assert found, f"{question_set}: {n} not found on {row['document']} page {row['page']}"


def test_dev_sets_ask_nothing_the_gold_file_asks():
    gold = {normalise(r["question"]).lower() for r in GOLD_ROWS}
    assert not [r["question"] for _, r in DEV_ROWS if normalise(r["question"]).lower() in gold]


def test_states_matches_whole_numbers_only():
    assert states("Revenue 148.2 121.9", "$148.2 million")
    assert not states("Revenue 148.2 121.9", "$48.2 million")
    assert not states("Revenue 48.25", "$48.2 million")
    assert states("revenue of $150 million to $156 million", "$150 million to $156 million")
    assert not states("Reno 2026", "Reno, Nevada")


def test_html_noise_stays_out_of_the_visible_text():
    visible = html_visible_text(DOCS / "acme_investor_relations_about.html")
    assert "Maria Delgado" in visible and "Austin, Texas" in visible
    for noise in ("9,999 million", "open roles", "dataLayer", "ACMR 999.99", "We use cookies"):
        assert noise not in visible


def test_generator_reproduces_the_committed_documents(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == sorted(p.name for p in DOCS.iterdir() if p.suffix in (".pdf", ".docx"))
    for name in generated:
        if name.endswith(".pdf"):
            assert pdf_pages(tmp_path / name) == pdf_pages(DOCS / name), name
        else:
            assert docx_text(tmp_path / name) == docx_text(DOCS / name), name
