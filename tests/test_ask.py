"""``synthtune ask``: the question is asked the way evaluation asks it, the answer's citations are the
passages its [n], numbers or words point at, the model used is named (base when nothing was trained), and
--json carries it all. Answers come from the bundled model (greedy, short replies)."""

from __future__ import annotations

import json
import re

import pytest
from webproject import build_demo

from synthtune.ask import AnswerModel, answer_model, ask, backend_settings, citations, passages
from synthtune.chat import user_content
from synthtune.errors import SynthtuneError
from synthtune.evaluate.run import request_messages
from synthtune.llm.base import ChatRequest
from synthtune.search import Hit
from synthtune.text.citations import cite
from synthtune.text.numbers import extract_numbers

QUESTION = "What was the adjusted EBITDA margin in Q2 FY2025?"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embedder):
    p = build_demo(tmp_path_factory.mktemp("ask") / "proj", embedder, n_examples=4)
    yield p
    p.close()


@pytest.fixture(scope="module")
def answered(demo, bundled_llm):
    """``QUESTION`` asked of the demo project, answered by the session's bundled model."""
    return ask(demo, QUESTION, backend=bundled_llm)


def test_answer_is_the_models_and_cites_what_it_points_at(demo, bundled_llm, answered):
    """The answer is what the model replies to evaluation's prompt (the numbered passages of chat's user
    turn, the project's system prompt); its citations are the passages that reply points at (its [n],
    else the passages holding its numbers or sharing its words), numbered as shown, with their spans."""
    result = answered
    assert result.answer and result.answer == result.answer.strip()
    shown = [{"id": h.chunk_id, "text": h.text} for h in result.hits]
    cited = cite(result.answer, shown)
    assert cited, "the answer points at no passage"
    assert [c.chunk_id for c in result.citations] == cited
    # the bundled model answers with a figure and no [n]: the passages cited are those that hold it,
    # whatever their rank, and no passage that holds it goes uncited
    figures = [re.sub(r"[^\d.]", "", n.raw).strip(".") for n in extract_numbers(result.answer)]
    assert figures and not re.search(r"\[\d+\]", result.answer), result.answer
    holding = [h.chunk_id for h in result.hits if any(f in h.text for f in figures)]
    assert cited == holding[:2]  # at most two
    for c in result.citations:
        hit = result.hits[c.n - 1]  # [n] is the passage's number in the prompt
        assert (c.chunk_id, c.document_id, c.title, c.page_start, c.char_start, c.char_end, c.text) == (
            hit.chunk_id, hit.document_id, hit.title, hit.page_start, hit.char_start, hit.char_end, hit.text,
        )  # fmt: skip
    # the prompt is evaluation's: asked with it directly, the same greedy model gives the same answer
    messages = request_messages(demo.settings.export.system_prompt or None, QUESTION, passages(result.hits))
    assert messages[-1]["content"] == user_content(QUESTION, passages(result.hits))
    assert messages[-1]["content"].startswith(QUESTION)
    assert "Passages:\n[1] " + result.hits[0].title in messages[-1]["content"]
    (direct,) = bundled_llm.generate([ChatRequest(messages=messages)])
    assert direct.text.strip() == result.answer
    # and another prompt (the question without its passages) gets another answer
    (closed_book,) = bundled_llm.generate(
        [ChatRequest(messages=messages[:-1] + [{"role": "user", "content": QUESTION}])]
    )
    assert closed_book.text.strip() != result.answer


def test_base_model_when_nothing_was_trained(demo):
    model = answer_model(demo)
    assert model == AnswerModel("base", demo.settings.train.base_model)
    assert model.describe().startswith("base model")


def test_latest_merge_is_used(demo, tmp_path, monkeypatch):
    merged = tmp_path / "merged"
    merged.mkdir()
    monkeypatch.setattr(demo.store, "latest_merge", lambda: type("M", (), {"merged_path": str(merged)})())
    assert answer_model(demo) == AnswerModel("merge", str(merged))


def test_citations_follow_markers_else_the_passage_holding_the_numbers():
    hits = [
        Hit(7, 1, "T", "/x.pdf", 2, 2, 0, 10, 1.0, "Revenue was 5.5 million."),
        Hit(8, 1, "T", "/x.pdf", 3, 3, 0, 10, 0.5, "Margin was 12.8%."),
    ]
    assert [(c.n, c.chunk_id) for c in citations("It was 12.8% [2].", hits)] == [(2, 8)]
    assert [(c.n, c.chunk_id) for c in citations("Revenue was 5.5 million.", hits)] == [(1, 7)]
    assert citations("", hits) == []


def test_empty_question_is_an_error(demo):
    """An empty question is refused before any model is loaded (none is given here)."""
    with pytest.raises(SynthtuneError, match="empty question"):
        ask(demo, "  ")


def test_cli_json(demo, bundled_llm, answered, monkeypatch, capsys):
    """``synthtune ask --json`` loads the base model itself, with the settings ``ask`` documents (greedy,
    one prompt at a time, ``eval.max_new_tokens`` from synthtune.yaml), so it answers as the session's
    model with those settings did; it prints the question, the answer, the model, the passages and the
    citations, each with its passage's number, title and span."""
    from synthtune.cli import main

    assert backend_settings(demo, answer_model(demo)) == bundled_llm.settings
    monkeypatch.setattr("sys.argv", ["synthtune", "-C", str(demo.dir), "ask", QUESTION, "--json"])
    main()
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == {"kind": "base", "model": demo.settings.train.base_model}
    assert out["question"] == QUESTION
    assert out["answer"] == answered.answer != ""
    assert [p["chunk_id"] for p in out["passages"]] == [h.chunk_id for h in answered.hits]
    assert [(c["n"], c["chunk_id"]) for c in out["citations"]] == [
        (c.n, c.chunk_id) for c in answered.citations
    ]
    assert out["citations"], "the answer points at no passage"
    for c in out["citations"]:
        assert c["chunk_id"] == out["passages"][c["n"] - 1]["chunk_id"]
        assert {"title", "page_start", "char_start", "char_end"} <= set(c)
