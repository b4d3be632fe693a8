"""``synthtune ask``: the question is asked the way evaluation asks it, the answer's [n] point at the
passages shown, the model used is named (base when nothing was trained), and --json carries it all."""

from __future__ import annotations

import json

import pytest
from webproject import EchoBackend, build_demo

from synthtune.ask import AnswerModel, answer_model, ask, citations, passages
from synthtune.chat import user_content
from synthtune.errors import SynthtuneError
from synthtune.search import Hit


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embedder):
    p = build_demo(tmp_path_factory.mktemp("ask") / "proj", embedder, n_examples=4)
    yield p
    p.close()


def test_answer_cites_the_passage_its_marker_points_at(demo):
    backend = EchoBackend()
    result = ask(demo, "What was the adjusted EBITDA margin in Q2 FY2025?", backend=backend)
    assert result.answer.endswith("[1].")
    assert [c.n for c in result.citations] == [1]
    first = result.hits[0]
    c = result.citations[0]
    assert (c.chunk_id, c.title, c.page_start, c.char_start, c.char_end) == (
        first.chunk_id, first.title, first.page_start, first.char_start, first.char_end,
    )  # fmt: skip
    # the prompt is evaluation's: the user turn is chat.user_content over the retrieved passages
    (request,) = backend.calls
    assert request.messages[-1]["content"].startswith("What was the adjusted EBITDA margin")
    assert "Passages:\n[1] " + first.title in request.messages[-1]["content"]
    question = "What was the adjusted EBITDA margin in Q2 FY2025?"
    assert request.messages[-1]["content"] == user_content(question, passages(result.hits))


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
    with pytest.raises(SynthtuneError, match="empty question"):
        ask(demo, "  ", backend=EchoBackend())


def test_cli_json(demo, monkeypatch, capsys):
    from synthtune.cli import main

    monkeypatch.setattr("synthtune.ask.make_backend", lambda settings: EchoBackend())
    monkeypatch.setattr("sys.argv", ["synthtune", "-C", str(demo.dir), "ask", "adjusted EBITDA", "--json"])
    main()
    out = json.loads(capsys.readouterr().out)
    assert out["model"]["kind"] == "base"
    assert out["citations"] and out["citations"][0]["n"] == 1
    assert {"title", "page_start", "char_start", "char_end"} <= set(out["citations"][0])
