"""Chunk invariants: exact offsets, token limits with the header, every page's text covered."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthtune.ingest.base import Page
from synthtune.ingest.chunking import chunk_pages, make_header


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from synthtune.embed import resolve_embedder_path

    return AutoTokenizer.from_pretrained(resolve_embedder_path("all-MiniLM-L6-v2"))


WORDS = [
    "revenue",
    "grew",
    "12.5%",
    "to",
    "$48.2",
    "million",
    "Acme",
    "robots",
    "(3.1)",
    "Q3",
    "margin",
    "the",
    "warehouse",
    "fleet",
    "guidance",
    "EBITDA",
    "1,234,567",
    "naïve",
    "café",
    "über-long-token" * 3,
]


def sentence():
    return st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")


def paragraph():
    return st.lists(sentence(), min_size=1, max_size=8).map(" ".join)


def page_text():
    return st.lists(paragraph(), min_size=0, max_size=6).flatmap(
        lambda ps: st.sampled_from(["\n\n", "\n", "\n \n\n"]).map(lambda sep: sep.join(ps))
    )


def count(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(page_text(), min_size=1, max_size=4),
    size=st.integers(16, 120),
    overlap=st.integers(0, 40),
    with_header=st.booleans(),
)
def test_chunk_invariants(tokenizer, texts, size, overlap, with_header):
    overlap = min(overlap, size - 1)
    pages = [Page(page_no=i + 1, text=t) for i, t in enumerate(texts)]
    max_tokens = 128
    chunks = chunk_pages(
        pages,
        tokenizer,
        title="Acme Q3 Release",
        size=size,
        overlap=overlap,
        max_tokens=max_tokens,
        with_header=with_header,
    )
    by_page = {p.page_no: p.text for p in pages}
    covered = {p.page_no: [False] * len(p.text) for p in pages}
    for i, c in enumerate(chunks):
        assert c.ordinal == i
        # offsets map back to the page text exactly; a chunk cites one page
        assert c.page_start == c.page_end
        assert by_page[c.page_start][c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        # the embedded passage (header + text) never exceeds the embedder's maximum
        passage = f"{c.header}\n{c.text}" if c.header else c.text
        assert count(tokenizer, passage) <= max_tokens
        assert c.n_tokens <= size
        for j in range(c.char_start, c.char_end):
            covered[c.page_start][j] = True
    for page in pages:
        missed = [
            ch
            for ch, hit in zip(page.text, covered[page.page_no], strict=True)
            if not hit and not ch.isspace()
        ]
        assert not missed, f"page {page.page_no}: text not in any chunk: {''.join(missed)[:40]!r}"


def test_prefers_paragraph_then_sentence_boundaries(tokenizer):
    para1 = "Revenue grew to $48.2 million. Margin was 41.0%. " * 3
    para2 = "Guidance for Q4 is $50 million. Headcount rose to 412. " * 3
    text = para1.strip() + "\n\n" + para2.strip()
    chunks = chunk_pages([Page(1, text)], tokenizer, title="t", size=60, overlap=0, max_tokens=256)
    assert len(chunks) >= 2
    assert chunks[0].text == para1.strip()  # cut at the paragraph break, not mid-sentence
    for c in chunks:
        assert c.text.endswith(".")


def test_overlap_repeats_the_previous_sentence(tokenizer):
    text = " ".join(f"Sentence number {i} says the fleet grew by {i} units." for i in range(40))
    chunks = chunk_pages([Page(1, text)], tokenizer, title="t", size=50, overlap=15, max_tokens=256)
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start < a.char_end, "consecutive chunks should overlap"
        assert b.text.startswith("Sentence number"), "overlap should start at a sentence"


def test_sections_and_header(tokenizer):
    text = "# Results\n\nRevenue rose.\n\n# Outlook\n\nWe expect growth."
    page = Page(1, text, headings=[(0, "Results"), (text.index("# Outlook"), "Outlook")])
    chunks = chunk_pages([page], tokenizer, title="Acme Call", size=8, overlap=0, max_tokens=256)
    last = chunks[-1]
    assert last.section == "Outlook"
    assert last.header == "Acme Call — Outlook"
    off = chunk_pages(
        [page], tokenizer, title="Acme Call", size=8, overlap=0, max_tokens=256, with_header=False
    )
    assert all(c.header == "" for c in off)
    assert make_header("Acme", None) == "Acme"


def test_empty_and_blank_pages_make_no_chunks(tokenizer):
    chunks = chunk_pages(
        [Page(1, ""), Page(2, "  \n\n "), Page(3, "Only text.")],
        tokenizer,
        title="t",
        size=50,
        overlap=5,
        max_tokens=256,
    )
    assert [(c.page_start, c.text) for c in chunks] == [(3, "Only text.")]


def test_unbroken_text_is_cut_at_token_limits(tokenizer):
    text = "x" * 5000  # no boundary at all
    chunks = chunk_pages([Page(1, text)], tokenizer, title="t", size=40, overlap=0, max_tokens=64)
    assert "".join(c.text for c in chunks) == text
    assert all(count(tokenizer, f"{c.header}\n{c.text}") <= 64 for c in chunks)


STATEMENT = (
    "Acme Robotics reported its results today. Revenue grew on strong demand for its robots in every region.\n"
    "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS\n"
    "(in millions, except per share amounts)\n"
    "Three Months Ended Nine Months Ended\n"
    "September 30, 2025 September 30, 2024 September 30, 2025 September 30, 2024\n"
    + "".join(
        f"{label} $ {a} $ {b} $ {c} $ {d}\n"
        for label, a, b, c, d in [
            ("Revenue", "152.2", "121.8", "427.2", "343.0"),
            ("Cost of revenue", "86.1", "72.0", "244.3", "203.9"),
            ("Gross profit", "66.1", "49.8", "182.9", "139.1"),
            ("Research and development", "21.3", "18.1", "61.0", "52.7"),
            ("Sales and marketing", "19.9", "16.4", "57.1", "47.0"),
            ("General and administrative", "15.5", "13.2", "44.8", "38.6"),
            ("Operating income", "9.4", "2.1", "20.0", "0.8"),
            ("Interest expense", "(1.1)", "(1.0)", "(3.2)", "(3.1)"),
            ("Net income", "7.1", "0.9", "14.9", "(2.6)"),
        ]
    )
    + "The company will host a conference call to discuss these results at 5 p.m. Eastern time today.\n"
)


def test_a_chunk_cut_from_a_table_carries_its_column_headers(tokenizer):
    """Rows alone say "Net income $ 7.1 $ 0.9 ..."; the header says which period each column is."""
    from synthtune.ingest.chunking import table_spans

    [table] = table_spans(STATEMENT)
    assert STATEMENT[table.rows_start :].startswith("Revenue $ 152.2")
    assert table.header.startswith("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS")
    assert "Three Months Ended Nine Months Ended September 30, 2025" in table.header
    chunks = chunk_pages(
        [Page(1, STATEMENT)],
        tokenizer,
        title="Acme Q3",
        size=40,
        overlap=0,
        max_tokens=256,
        table_headers=True,
    )
    mid = [c for c in chunks if table.rows_start <= c.char_start < table.end]
    assert mid and all(c.header == f"Acme Q3 — table: {table.header}" for c in mid)
    assert all("table:" not in c.header for c in chunks if c.char_start < table.rows_start)
    assert all(count(tokenizer, f"{c.header}\n{c.text}") <= 256 for c in chunks)
    assert table_spans("Revenue grew 12% in 2025 and 9% in 2024, the company said.") == []
    plain = chunk_pages([Page(1, STATEMENT)], tokenizer, title="Acme Q3", size=40, overlap=0, max_tokens=256)
    assert all(c.header == "Acme Q3" for c in plain)  # off unless asked (embedding.table_header)


def test_a_table_that_fits_in_a_chunk_is_never_cut(tokenizer):
    """With ``keep_tables`` the cut that would fall among the statement's rows moves to where the table
    starts, and one chunk holds its header lines and all its rows; without it the table is cut. Text is
    still covered in order either way."""
    from synthtune.ingest.chunking import table_spans

    [table] = table_spans(STATEMENT)
    size = count(tokenizer, STATEMENT[table.start : table.end]) + 10
    # lines without a sentence end, so the best boundary in reach of a cut is a line inside the table
    lead = "".join(
        f"Acme Robotics opened a new site in region {c} near the coast\n" for c in "ABCDEFGHIJKLMNOP"
    )
    page = Page(1, lead + STATEMENT[table.start :] + "The outlook is unchanged. " * 8)
    [table] = table_spans(page.text)

    def holds_table(chunks) -> bool:
        return any(c.char_start <= table.start and table.end <= c.char_end for c in chunks)

    options = dict(title="Acme Q3", size=size, overlap=8, max_tokens=512)
    cut = chunk_pages([page], tokenizer, **options)
    kept = chunk_pages([page], tokenizer, **options, keep_tables=True)
    assert not holds_table(cut) and holds_table(kept)
    assert all(c.n_tokens <= size for c in kept)
    assert kept[0].char_start == 0 and kept[-1].char_end == len(page.text.rstrip())
    for a, b in zip(kept, kept[1:], strict=False):
        assert page.text[a.char_end : b.char_start].strip() == ""  # nothing skipped
    # a table longer than a chunk is cut as any text
    small = dict(options, size=40)
    assert not holds_table(chunk_pages([page], tokenizer, **small, keep_tables=True))
