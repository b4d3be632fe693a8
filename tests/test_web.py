"""The web app over a demo-like project: every screen renders, the API answers (the bundled model, loaded
by the app on the first question) with citations and page highlights, reviews are rows that curation
never overrides and export's operation reads; and it is safe by default (token beyond loopback, CSRF on
writes, only project files, bounded bodies)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from webproject import build_demo

from synthtune.synth.curate import curate
from synthtune.text.citations import cite
from synthtune.web import Guard, create_app
from synthtune.web.pages import align, number_segments, page_span

LOCAL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embedder):
    p = build_demo(tmp_path_factory.mktemp("web") / "proj", embedder)
    yield p
    p.close()


@pytest.fixture
def client(demo):
    """The app as ``synthtune serve`` makes it: it loads its answering model on the first question."""
    app = create_app(demo)
    with TestClient(app, base_url=LOCAL) as c:
        c.headers["X-CSRF-Token"] = app.state.guard.csrf
        yield c


def pdf_hit(client) -> dict:
    hits = client.get("/api/search", params={"q": "adjusted EBITDA margin", "k": 5}).json()["results"]
    return next(h for h in hits if h["source_path"].endswith(".pdf"))


# -- screens and API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/ask", "/ask?q=revenue", "/review", "/runs", "/api/openapi.json"])
def test_screens_render(client, url):
    assert client.get(url).status_code == 200


def test_openapi_lists_the_api(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {
        "/api/search",
        "/api/ask",
        "/api/examples",
        "/api/examples/{example_id}/review",
        "/api/runs",
    } <= set(paths)


def test_ask_answers_with_citations(client, demo):
    """/api/ask answers with the project's model (the base model: nothing was trained), loaded on this
    first question; the citations are the passages the answer points at, numbered as the passages it
    returns, and the first opens its page with the cited text boxed."""
    question = "What was the adjusted EBITDA margin?"
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200, response.text
    r = response.json()
    assert r["model"] == {"kind": "base", "model": demo.settings.train.base_model}
    assert r["question"] == question and r["answer"]
    shown = [{"id": p["chunk_id"], "text": p["text"]} for p in r["passages"]]
    assert [c["chunk_id"] for c in r["citations"]] == cite(r["answer"], shown) != []
    for c in r["citations"]:
        assert c["chunk_id"] == r["passages"][c["n"] - 1]["chunk_id"]
    c = r["citations"][0]  # the passages are earnings-release pages: the cited one is a PDF page image
    view = client.get(
        f"/api/documents/{c['document_id']}/pages/{c['page_start']}", params={"chunk": c["chunk_id"]}
    ).json()
    assert view["kind"] == "image" and view["boxes"]


def test_pdf_page_has_image_and_boxes_over_the_cited_text(client):
    hit = pdf_hit(client)
    view = client.get(
        f"/api/documents/{hit['document_id']}/pages/{hit['page_start']}", params={"chunk": hit["chunk_id"]}
    ).json()
    assert view["kind"] == "image" and view["boxes"]
    for b in view["boxes"]:
        assert 0 <= b["left"] < 100 and 0 <= b["top"] < 100 and b["width"] > 0 and b["height"] > 0
    image = client.get(view["image_url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    # deep link to the passage opens its page with the highlight
    page = client.get(f"/passages/{hit['chunk_id']}")
    assert page.status_code == 200 and 'class="hl"' in page.text


def test_text_page_marks_the_span(client, demo):
    doc = next(d for d in demo.store.documents() if d.media_type != "application/pdf")
    chunk = demo.store.chunks(doc.id)[0]
    view = client.get(f"/api/documents/{doc.id}/pages/{chunk.page_start}", params={"chunk": chunk.id}).json()
    assert view["kind"] == "text"
    assert [s["text"] for s in view["segments"] if s["mark"]] == [chunk.text]


def test_unknown_page_is_404(client):
    assert client.get("/api/documents/999/pages/1").status_code == 404
    assert client.get("/passages/999999").status_code == 404


# -- reviews --------------------------------------------------------------------------------------------


def test_review_edit_undo_and_history(client, demo):
    ex = demo.store.examples()[0]
    edited = client.post(
        f"/api/examples/{ex.id}/review", json={"decision": "edit", "answer": "Edited 999 [1]."}
    ).json()
    assert edited["answer"] == "Edited 999 [1]." and edited["edited"]
    assert edited["recheck"]["unsupported"] == ["999"]
    assert (
        client.post(f"/api/examples/{ex.id}/review", json={"decision": "reject"}).json()["status"]
        == "rejected"
    )
    after_undo = client.post(f"/api/examples/{ex.id}/undo").json()
    assert after_undo["status"] == ex.status and after_undo["answer"] == "Edited 999 [1]."
    assert [h["decision"] for h in after_undo["history"]] == ["edit", "reject", "undo"]
    client.post(f"/api/examples/{ex.id}/undo")
    assert demo.store.reviewed_example(ex.id).answer == ex.answer


def test_human_decision_wins_over_curate_and_export_reads_it(client, demo, tmp_path):
    rejected = next(e for e in demo.store.examples() if e.status == "rejected")
    accepted = next(e for e in demo.store.examples() if e.status == "accepted")
    client.post(
        f"/api/examples/{accepted.id}/review", json={"decision": "edit", "answer": "Reviewed text [1]."}
    )
    client.post(f"/api/examples/{rejected.id}/review", json={"decision": "accept"})
    curate(demo, coverage=False)  # a re-run rewrites examples; the decisions are rows of their own
    view = {e.id: e for e in demo.store.reviewed_examples()}
    assert view[accepted.id].answer == "Reviewed text [1]."
    assert view[rejected.id].status == "accepted"
    # curation gave the rejected example no split: accepted by a human, it takes its document's split
    siblings = {e.split for e in demo.store.examples() if e.document_id == rejected.document_id and e.split}
    if siblings:
        assert view[rejected.id].split in siblings
        assert rejected.id in {
            e.id for e in demo.store.reviewed_examples(status="accepted", split=view[rejected.id].split)
        }
    assert accepted.id in {
        e.id for e in demo.store.reviewed_examples(status="accepted", split=accepted.split)
    }
    # export writes the reviewed text, and the edit changes what `run` fingerprints for export
    from synthtune.export import export_dataset
    from synthtune.export.writer import STAGE

    out = Path(export_dataset(demo, format="messages", out=tmp_path / "exp")["out"])
    assert "Reviewed text" in (out / f"{accepted.split}.jsonl").read_text()
    before = STAGE.inputs(demo)
    client.post(f"/api/examples/{accepted.id}/review", json={"decision": "reject"})
    assert STAGE.inputs(demo) != before


def test_queue_filters_progress_and_bulk(client, demo):
    q = client.get("/api/examples", params={"status": "rejected"}).json()
    n = len(q["items"])
    assert n and all(i["status"] == "rejected" for i in q["items"])
    doc = demo.store.examples()[0].document_id
    assert all(
        demo.store.example(i["id"]).document_id == doc
        for i in client.get("/api/examples", params={"document": doc}).json()["items"]
    )
    done = client.post(
        "/api/examples/bulk", json={"decision": "accept", "filter": {"status": "rejected"}}
    ).json()
    assert done["changed"] == n and done["items"] == []
    progress = client.get("/api/examples").json()["progress"]
    assert progress["reviewed"] >= n and progress["total"] == len(demo.store.examples())


def test_reviews_fold_in_order_and_undo_takes_back_its_target():
    from synthtune.store.reviews import Review, fold

    def r(i, decision, after=None, undoes=None):
        return Review(i, 1, 1, decision, {}, after or {}, "me", "t", undoes)

    history = [r(1, "edit", {"answer": "A2"}), r(2, "reject"), r(3, "accept"), r(4, "undo", undoes=3)]
    state = fold(history)
    assert (state.status, state.answer, state.question, state.n_reviews) == ("rejected", "A2", None, 4)
    assert not fold([r(1, "accept"), r(2, "undo", undoes=1)]).reviewed


def test_orphaned_reviews(demo):
    assert demo.store.orphaned_reviews() == []


def test_helpers():
    assert page_span(2, 1, 3, 10, 5, 100) == (0, 100)
    assert page_span(1, 1, 1, 10, 20, 15) == (10, 15)
    assert align("a\r\nb \n\ufffec", "a\nb\n-c") == [0, 2, 3, 5, 6, 7]
    marked = [
        s.text for s in number_segments("Revenue $5.5 million, up 12%.", "It was $5.5 million.") if s.mark
    ]
    assert marked == ["$5.5 million"]


# -- safety ---------------------------------------------------------------------------------------------


def test_token_required_beyond_loopback(demo):
    guard = Guard.for_host("0.0.0.0", token="s3cret")
    with TestClient(create_app(demo, guard), base_url="http://192.0.2.7:8000") as c:
        assert c.get("/ask").status_code == 401
        assert c.get("/api/examples", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/examples", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = c.get("/ask?token=s3cret")  # a link with the token logs the browser in (cookie)
        assert r.status_code == 200 and "synthtune_token" in r.headers["set-cookie"]
        assert c.get("/review").status_code == 200


def test_loopback_needs_no_token_but_a_loopback_host(demo):
    assert Guard.for_host("127.0.0.1").token is None
    assert Guard.for_host("::1").token is None
    assert Guard.for_host("0.0.0.0").token  # generated when none is given
    with TestClient(create_app(demo), base_url="http://attacker.example") as c:
        assert c.get("/api/examples").status_code == 403  # DNS rebinding


def test_csrf_required_on_writes(demo, client):
    ex = demo.store.examples()[0]
    with TestClient(create_app(demo), base_url=LOCAL) as c:
        assert c.post(f"/api/examples/{ex.id}/review", json={"decision": "accept"}).status_code == 403
        bad = c.post(
            f"/api/examples/{ex.id}/review", json={"decision": "accept"}, headers={"X-CSRF-Token": "x"}
        )
        assert bad.status_code == 403
    assert client.get("/ask").text.count(client.headers["X-CSRF-Token"]) == 1
    assert client.get("/api/csrf").json()["csrf"] == client.headers["X-CSRF-Token"]


@pytest.mark.parametrize(
    "path",
    ["/files/../synthtune.db", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/%2Fetc%2Fpasswd", "/files//etc/passwd",
     "/files/synthtune.db", "/files/nothing.html", "/static/../app.py"],
)  # fmt: skip
def test_only_project_files_are_served(client, path):
    assert client.get(path).status_code == 404


def test_project_files_are_served(client, demo):
    (demo.dir / "eval").mkdir(exist_ok=True)
    (demo.dir / "eval" / "report.html").write_text("<p>report</p>")
    assert client.get("/files/eval/report.html").text == "<p>report</p>"


def test_oversized_request_is_413(client):
    r = client.post("/api/ask", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_serve_command_binds_loopback_and_needs_a_token_beyond(demo, monkeypatch, capsys):
    import uvicorn

    from synthtune.cli import main

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: served.append((app, host, port)))
    monkeypatch.setattr("sys.argv", ["synthtune", "-C", str(demo.dir), "serve", "--port", "8123"])
    main()
    app, host, port = served[-1]
    assert (host, port, app.state.guard.token) == ("127.0.0.1", 8123, None)
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out

    monkeypatch.setenv("SYNTHTUNE_TOKEN", "from-env")
    monkeypatch.setattr("sys.argv", ["synthtune", "-C", str(demo.dir), "serve", "--host", "0.0.0.0"])
    main()
    app, host, _ = served[-1]
    assert host == "0.0.0.0" and app.state.guard.token == "from-env"
    assert "?token=from-env" in capsys.readouterr().out
