"""The web app in a real browser (Debian's chromium driven by Playwright, headless, server started here on
127.0.0.1, answering with the bundled model): ask and see the cited page highlighted; review with the
keyboard only and keep decisions and position across a reload; an edit is what export's store operation
reads. No console errors, no failed requests, no request to anywhere but the server. Screenshots go to
``$SYNTHTUNE_TEST_ARTIFACTS``."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from webproject import SETTINGS, build_demo

from synthtune.config import parse_settings
from synthtune.project import Project
from synthtune.web import create_app

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make browser)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("browser") / "proj"
    with build_demo(directory, embedder) as built:  # the runs screen shows finished and running stages
        for stage, counters in (("ingest", {"documents": 7}), ("curate", {"accepted": 7})):
            built.store.finish_run(built.store.start_run(stage, "s" * 64), counters)
        built.store.start_run("generate", "s" * 64)
    project = Project(directory, parse_settings(SETTINGS))
    project._embedder = embedder
    port = free_port()
    # the app loads the answering model (the bundled one: nothing was trained) on the first question
    srv = uvicorn.Server(
        uvicorn.Config(create_app(project), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", directory
    srv.should_exit = True
    thread.join(10)
    project.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    base, _ = server
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.on(
            "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        pg.on(
            "request",
            lambda r: None if r.url.startswith((base, "data:")) else problems.append(f"left: {r.url}"),
        )
        yield pg
        browser.close()
    assert problems == []


def artifact(pg, name: str) -> None:
    folder = os.environ.get("SYNTHTUNE_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(folder) / name), full_page=False)


def test_ask_and_see_the_cited_page_highlighted(server, page):
    """The model's answer shows with its citations (the passages retrieved for this question are all
    earnings-release PDF pages, and the bundled model's reply points at one of them: asserted, not
    assumed); clicking the first opens that page beside it, rendered, with the cited text boxed inside."""
    base, _ = server
    page.goto(f"{base}/ask?q=adjusted EBITDA margin Q2 FY2025")
    answer = page.locator("#answer .answer-text")
    answer.wait_for(timeout=180_000)  # the first question loads the model, then it generates
    assert answer.inner_text().strip() not in ("", "(no answer)")
    citation = page.locator("#answer a.citation").first
    assert page.locator("#answer a.citation").count() > 0, "the answer cites no passage"
    cited = {k: citation.get_attribute(f"data-{k}") for k in ("document", "page", "chunk")}
    citation.click()
    head = page.locator("#viewer .viewer-head a").first
    head.wait_for()
    assert (
        head.get_attribute("href")
        == f"/documents/{cited['document']}/pages/{cited['page']}?chunk={cited['chunk']}"
    )
    image = page.locator("#viewer .page-image img")
    image.wait_for()
    page.wait_for_function("document.querySelector('#viewer .page-image img').naturalWidth > 0")
    boxes = page.locator("#viewer .page-image .hl")
    assert boxes.count() > 0
    img, first = image.bounding_box(), boxes.first.bounding_box()
    assert img and first and first["width"] > 0 and first["height"] > 0
    assert img["x"] <= first["x"] and first["x"] + first["width"] <= img["x"] + img["width"] + 1
    assert img["y"] <= first["y"] and first["y"] + first["height"] <= img["y"] + img["height"] + 1
    artifact(page, "ask-cited-page.png")


def test_review_with_the_keyboard_survives_a_reload_and_edits_reach_export(server, page):
    base, directory = server
    page.goto(f"{base}/review")
    page.locator("#example .question").wait_for()
    ids = []
    for _ in range(5):
        position = page.locator("#example .position").inner_text()
        ids.append(int(position.split(" ")[0].lstrip("#")))
        page.keyboard.press("a")
        page.wait_for_function(
            f"!document.querySelector('#example .position').innerText.startsWith('#{ids[-1]} ')"
        )
    current = page.locator("#example .position").inner_text()
    assert page.locator("#progress").inner_text().startswith("5 / ")
    artifact(page, "review.png")
    page.reload()
    page.locator("#example .question").wait_for()
    assert page.locator("#example .position").inner_text() == current
    assert page.locator("#progress").inner_text().startswith("5 / ")

    page.keyboard.press("e")
    answer = page.locator("#edit-answer")
    answer.wait_for()
    answer.press("Control+a")
    answer.press_sequentially("Edited by a reviewer [1].")
    page.keyboard.press("Control+Enter")
    page.locator("#example .answer").wait_for()
    assert page.locator("#example .answer").inner_text() == "Edited by a reviewer [1]."
    edited_id = int(current.split(" ")[0].lstrip("#"))
    artifact(page, "review-edited.png")

    with Project(directory, parse_settings(SETTINGS)) as p:
        reviewed = {e.id: e for e in p.store.reviewed_examples()}
        assert all(reviewed[i].status == "accepted" for i in ids)
        assert reviewed[edited_id].answer == "Edited by a reviewer [1]."
        assert [r.decision for r in p.store.reviews() if r.example_id in ids] == ["accept"] * 5


def test_runs_screen_follows_a_running_stage(server, page):
    base, directory = server
    page.goto(f"{base}/runs")
    assert page.locator("table.runs tbody tr").count() >= 5
    generate = page.locator('tr[data-stage="generate"] td').nth(1)
    assert generate.inner_text() == "running"
    page.wait_for_function("document.body.dataset.live === '1'")  # the live feed (server-sent events) is on
    with Project(directory, parse_settings(SETTINGS)) as p:  # another process finishes the stage
        run = p.store.latest_run("generate")
        assert run is not None
        p.store.finish_run(run.id, {"questions": 12})
    page.wait_for_function(
        "document.querySelector('tr[data-stage=\"generate\"] td:nth-child(2)').innerText === 'ok'",
        timeout=15000,
    )
    artifact(page, "runs.png")
