"""Search: lexical, dense and fused rankings with citations; refusal on an embedding-model mismatch."""

from __future__ import annotations

import pytest
from conftest import write

from synthtune.errors import EmbeddingModelMismatch, SynthtuneError
from synthtune.search import fts_query, rrf

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
    assert [cid for cid, _ in fused][:2] == [2, 3] or [cid for cid, _ in fused][:2] == [3, 2]
    only_dense = rrf([([1, 2], 1.0), ([2, 1], 0.0)], k=60)
    assert [cid for cid, _ in only_dense] == [1, 2]
    assert rrf([([5], 2.0)], k=1)[0] == (5, 1.0)


def test_fts_query_quotes_and_drops_stopwords():
    assert fts_query('What was "Acme" revenue?') == '"acme" OR "revenue"'
    assert fts_query("the") == '"the"'  # only stopwords: keep them rather than match nothing
    assert fts_query("?!") is None


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_each_mode_finds_the_cited_passage(kb, mode):
    hits = kb.search("Where will the new factory open?", k=3, mode=mode)
    top = hits[0]
    assert "Reno" in top.text
    assert top.source_path.endswith("call.txt")
    assert (top.page_start, top.page_end) == (1, 1)
    page = kb.store.scalar("SELECT text FROM pages WHERE document_id = ? AND page_no = 1", (top.document_id,))
    assert page[top.char_start : top.char_end] == top.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_contextual_header_separates_similar_passages(kb):
    hits = kb.search("Globex third quarter revenue", k=2, mode="dense")
    assert hits[0].title == "Globex Q3"


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
