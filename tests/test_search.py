"""Search: lexical, dense and fused rankings with citations; refusal on an embedding-model mismatch."""

from __future__ import annotations

import pytest
from conftest import write

from synthtune.errors import EmbeddingModelMismatch, SynthtuneError
from synthtune.search import Searcher, cut, fuse_scores, query_terms, rrf

DOCS = {
    "acme_q3.md": "# Acme Q3\n\nAcme revenue was $152.2 million in the third quarter.\n\n"
    "Operating income reached $9.4 million.",
    "globex_q3.md": "# Globex Q3\n\nGlobex revenue was $88.0 million in the third quarter.\n\n"
    "Globex closed its Dayton plant.",
    "call.txt": "The CEO said a new factory opens in Reno, Nevada next spring. Hiring has started.",
}


@pytest.fixture
def kb(make_project, tmp_path):
    p = make_project()
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p.ingest([tmp_path / "docs"])
    return p


def test_rrf_weights_and_ties():
    fused = rrf([([1, 2, 3], 1.0), ([3, 2, 9], 1.0)], k=60)
    # 3: 1/63 + 1/61 beats 2: 2/62; then 1 (1/61) before 9 (1/63)
    assert [cid for cid, _ in fused] == [3, 2, 1, 9]
    tie = rrf([([2, 1], 1.0), ([1, 2], 1.0)], k=60)  # both 1/61 + 1/62: the lower id first
    assert [cid for cid, _ in tie] == [1, 2] and tie[0][1] == pytest.approx(1 / 61 + 1 / 62)
    only_dense = rrf([([1, 2], 1.0), ([2, 1], 0.0)], k=60)
    assert [cid for cid, _ in only_dense] == [1, 2]
    assert rrf([([5], 2.0)], k=1)[0] == (5, 1.0)


def test_score_fusion_keeps_margins_that_ranks_lose():
    dense = [(1, 0.90), (2, 0.50), (3, 0.10)]  # chunk 1 far ahead on dense
    lexical = [(2, 12.0), (1, 11.5), (4, 2.0)]  # chunks 2 and 1 nearly tied on BM25
    fused = fuse_scores([(dense, 0.5, 0.1), (lexical, 0.5, 2.0)])  # floors: the worst candidates
    # 1: 0.5 * 1 + 0.5 * 0.95 beats 2: 0.5 * 0.5 + 0.5 * 1; rank fusion puts them level, the lower id first
    assert [cid for cid, _ in fused][:2] == [1, 2]
    assert dict(fused)[1] == pytest.approx(0.5 + 0.5 * 9.5 / 10)
    assert dict(fused)[3] == 0.0 and dict(fused)[4] == 0.0  # a score at the floor scales to 0
    tied = fuse_scores([([(1, 0.9), (2, 0.5)], 0.5, 0.5), ([(2, 12.0), (1, 2.0)], 0.5, 2.0)])
    assert [cid for cid, _ in tied] == [1, 2] and dict(tied)[1] == dict(tied)[2]  # 0.5 each: the id breaks it
    assert fuse_scores([([(7, 3.0)], 1.0, 0.0), ([(8, 1.0)], 0.0, 0.0)]) == [(7, 1.0)]  # weight 0 is ignored


def test_the_floor_is_the_first_candidate_left_out_else_zero():
    assert cut([(1, 0.9), (2, 0.5), (3, 0.2)], 2) == ([(1, 0.9), (2, 0.5)], 0.2)
    assert cut([(1, 0.9), (2, 0.5)], 2) == ([(1, 0.9), (2, 0.5)], 0.0)  # none left out: a small store
    assert cut([(1, 0.3), (2, -0.2)], 5) == ([(1, 0.3), (2, -0.2)], -0.2)  # a cosine below 0 stays >= floor
    # so the last candidate of a small store still counts: a boost cannot merely tie it with the leader
    ranked, floor = cut([(1, 0.9), (2, 0.6)], 5)
    assert dict(fuse_scores([(ranked, 1.0, floor)]))[2] == pytest.approx(0.6 / 0.9)


def test_hybrid_with_score_fusion_finds_what_either_ranking_finds(kb):
    settings = kb.settings.model_copy(
        # names off: "Reno", said by one document, would rank it up with a second ranking of its own
        update={"search": kb.settings.search.model_copy(update={"fusion": "scores", "subject_match": "off"})}
    )
    searcher = Searcher(kb.store, settings, kb.embedder)
    try:
        hits = searcher.search("Reno factory", k=3, mode="hybrid")
    finally:
        searcher.close()
    assert hits[0].source_path.endswith("call.txt")
    # first on both rankings: each scales it to 1, so it scores the sum of the weights (rank fusion: 1/61 each)
    w = settings.search
    assert hits[0].score == pytest.approx(w.dense_weight + w.lexical_weight)


def test_query_terms_drop_stopwords_and_quotes_are_safe(kb):
    assert query_terms('What was "Acme" revenue? Acme!') == ["acme", "revenue"]
    assert query_terms("the") == ["the"]  # only stopwords: keep them rather than match nothing
    assert query_terms("?!") == []
    for mode in ("lexical", "dense", "hybrid"):
        with pytest.raises(SynthtuneError, match="has no words"):
            kb.search("?!", mode=mode)
        with pytest.raises(SynthtuneError, match="only common words"):
            kb.search("what is the", mode=mode)
    # a term with FTS5 syntax in it is matched as a word, not parsed
    assert kb.search('Reno" OR "Dayton', k=3, mode="lexical")[0].text.startswith("The CEO")


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_each_mode_finds_the_cited_passage(kb, mode):
    hits = kb.search("Where will the new factory open?", k=3, mode=mode)
    top = hits[0]
    assert "Reno" in top.text
    assert top.source_path.endswith("call.txt")
    assert (top.page_start, top.page_end) == (1, 1)
    page = kb.store.pages(top.document_id)[0].text
    assert page[top.char_start : top.char_end] == top.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_contextual_header_makes_the_title_searchable(make_project, tmp_path):
    """The passage never names its company; only the header (the document's title) does."""
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    write(tmp_path / "docs" / "Initech.txt", "Revenue was $61.5 million in the third quarter, up 8 percent.")
    on, off = make_project(name="on"), make_project({"embedding": {"contextual_header": False}}, name="off")
    for p in (on, off):
        p.ingest([tmp_path / "docs"])
    assert [h.title for h in on.search("Initech", k=3, mode="lexical")] == ["Initech"]
    assert off.search("Initech", k=3, mode="lexical") == []

    def dense_score(p):
        return next(h.score for h in p.search("Initech", k=10, mode="dense") if h.title == "Initech")

    assert on.search("Initech", k=1, mode="dense")[0].title == "Initech"
    assert dense_score(on) > dense_score(off) + 0.1


def test_k_and_bad_queries(kb):
    assert len(kb.search("revenue", k=1)) == 1
    with pytest.raises(SynthtuneError, match="empty query"):
        kb.search("   ")
    with pytest.raises(SynthtuneError, match="unknown search mode"):
        kb.search("revenue", mode="fuzzy")


@pytest.fixture(scope="module")
def tiny_embedder_dir(tmp_path_factory):
    """A tiny random sentence-transformer built in code (same tokenizer as the bundled one)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    from synthtune.embed import resolve_embedder_path

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-embedder")
    tok = AutoTokenizer.from_pretrained(resolve_embedder_path("all-MiniLM-L6-v2"))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(cfg).save_pretrained(d / "bert")
    tok.save_pretrained(d / "bert")
    word = models.Transformer(str(d / "bert"), max_seq_length=128)
    pool = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(d / "st"))
    return d / "st"


def test_search_refuses_other_model_until_reembed(kb, tiny_embedder_dir):
    from synthtune.config import parse_settings
    from synthtune.project import Project

    other = Project(kb.dir, parse_settings({"embedding": {"model": str(tiny_embedder_dir)}}))
    with pytest.raises(EmbeddingModelMismatch, match="synthtune reembed"):
        other.search("factory", mode="dense")
    # lexical search does not depend on the embedder
    assert other.search("factory", mode="lexical")[0].text.startswith("The CEO")
    result = other.reembed()
    assert result["previous_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert result["chunks"] == result["embedded"] > 0
    hits = other.search("factory", mode="dense", k=3)
    assert len(hits) == 3
    assert other.status()["embedding_model"] == str(tiny_embedder_dir.resolve())
    # and now the original model is the one refused
    with pytest.raises(EmbeddingModelMismatch):
        kb.search("factory", mode="dense")
    other.close()


def test_an_analysts_words_also_look_for_what_filings_write(make_project, tmp_path):
    """'top line' finds a page that says only 'Net revenues'; the scope says what was added; off, or for
    a query already in the filing's words, nothing is added; a user's own synonyms are looked for too."""
    write(tmp_path / "d" / "ebay.md", "# eBay Q1 2023\n\nNet revenues were $2,510 million; revenue grew 1%.")
    write(tmp_path / "d" / "notes.md", "# Shelves\n\nThe top shelf holds the spare cards.")
    p = make_project()
    p.ingest([tmp_path / "d"])
    hits, scope = p.search_scoped("What was the top line?", k=3, mode="lexical")
    assert hits[0].source_path.endswith("ebay.md")
    assert scope.expanded == ("revenue", "revenues", "net sales")
    assert "also looked for: revenue, revenues, net sales" in scope.describe(2)
    assert scope.to_json()["expanded_terms"] == ["revenue", "revenues", "net sales"]
    assert p.search_scoped("What were revenues?", mode="lexical")[1].expanded == ()  # already a filing's word
    assert p.search_scoped("What was the top line?", mode="dense")[1].expanded == ()  # nothing lexical

    off = make_project({"search": {"expand_terms": False}}, name="off")
    off.ingest([tmp_path / "d"])
    hits, scope = off.search_scoped("What was the top line?", k=3, mode="lexical")
    assert scope.expanded == ()
    assert [h.source_path.rsplit("/", 1)[-1] for h in hits] == ["notes.md"]  # "top" and "line" only

    write(tmp_path / "s" / "saas.md", "# Metrics\n\nAnnual recurring revenue reached $40 million.")
    own = make_project(
        {"search": {"expand_terms": False, "synonyms": {"ARR": ["annual recurring revenue"]}}}, name="own"
    )
    own.ingest([tmp_path / "s"])
    hits, scope = own.search_scoped("What was ARR?", k=1, mode="lexical")
    assert (
        hits and hits[0].source_path.endswith("saas.md") and scope.expanded == ("annual recurring revenue",)
    )


def test_a_ratio_or_a_statement_asked_by_an_analysts_name_finds_the_page_that_holds_it(
    make_project, tmp_path
):
    """No filing writes 'quick ratio': the balance sheet with its parts is the page to find; nor 'P&L': the
    statements of operations are."""
    write(
        tmp_path / "d" / "balance.md",
        "# Balance sheet\n\nCash and cash equivalents 3,655. Accounts receivable 4,532. Total current "
        "liabilities 9,523.",
    )
    write(
        tmp_path / "d" / "memo.md",
        "# Memo\n\nA quick note: the ratio of quick wins to plans is one to three.",
    )
    p = make_project()
    p.ingest([tmp_path / "d"])
    hits, scope = p.search_scoped("What is the quick ratio?", k=2, mode="lexical")
    assert hits[0].source_path.endswith("balance.md") and "total current liabilities" in scope.expanded
    # a statement asked by an analyst's name
    write(
        tmp_path / "e" / "ops.md",
        "# Consolidated Statements of Operations\n\nNet revenues 7,528. Net income 1,503.",
    )
    write(tmp_path / "e" / "plan.md", "# Plan\n\nThe owner signs the statement of work.")
    for topic in ("hiring", "travel", "security"):  # enough documents for BM25 to weigh a rare word
        write(
            tmp_path / "e" / f"{topic}.md", f"# {topic.title()}\n\nThe {topic} policy is unchanged this year."
        )
    q = make_project(name="statements")
    q.ingest([tmp_path / "e"])
    hits, scope = q.search_scoped("What does the P&L statement show?", k=2, mode="lexical")
    assert hits[0].source_path.endswith("ops.md") and "statements of operations" in scope.expanded
    # an industry's own ratio, written as such, is not widened
    assert p.search_scoped("What was the operating ratio?", mode="lexical")[1].expanded == ()
    off = make_project({"search": {"expand_terms": False}}, name="off")
    off.ingest([tmp_path / "d"])
    assert off.search_scoped("What is the quick ratio?", k=2, mode="lexical")[0][0].source_path.endswith(
        "memo.md"
    )


def test_a_pdf_page_gives_one_result_and_leaves_room_for_the_next_page(make_project, tmp_path):
    from fpdf import FPDF

    # page 1: four paragraphs on warranty claims, each a chunk of its own; page 2: one more, worded apart
    claims = [
        f"Warranty claims in region {r} were {n} this quarter, and warranty reserves for claims rose to match."
        for r, n in (("north", 120), ("south", 95), ("east", 80), ("west", 61))
    ]
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for page in ("\n\n".join(claims), "The warranty claims backlog was cleared by the service team in May."):
        pdf.add_page()
        pdf.multi_cell(0, 8, page)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "claims.pdf").write_bytes(bytes(pdf.output()))
    write(tmp_path / "docs" / "notes.md", "\n\n".join(c.replace("region", "district") for c in claims))

    def ranked(per_page: int) -> list[tuple[str, int]]:
        p = make_project({"ingest": {"chunk_size": 30, "chunk_overlap": 0}, "search": {"per_page": per_page}},
                         name=f"proj{per_page}")  # fmt: skip
        p.ingest([tmp_path / "docs"])
        return [(h.source_path.rsplit("/", 1)[-1], h.page_start) for h in p.search("warranty claims", k=6)]

    unlimited = ranked(0)
    assert unlimited.count(("claims.pdf", 1)) >= 2  # the first page's chunks crowd the list
    one = ranked(1)
    assert one.count(("claims.pdf", 1)) == 1 and ("claims.pdf", 2) in one
    assert one.count(("notes.md", 1)) >= 2  # a file without pages is not limited
    assert len(one) == 6
    two = ranked(2)
    assert two.count(("claims.pdf", 1)) == 2
