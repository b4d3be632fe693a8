"""The evaluation report: one self-contained HTML page, checked as markup and in headless chromium."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from synthtune.evaluate.report import render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SYSTEMS = ("base", "tuned", "base+rag", "tuned+rag", "gold-context")
XSS = "<script>alert(1)</script>"


def _system(name: str, kind: str, rag: bool, shift: float) -> dict[str, Any]:
    metrics = {
        "n": 3,
        "numeric_match": 0.25 + shift,
        "token_f1": 0.31 + shift,
        "rouge_l": 0.28 + shift,
        "semantic_similarity": 0.55 + shift,
        "refusal_accuracy": 0.5 + shift,
        "judge_correctness": 3.1 + 2 * shift,
        "recall_at_k": 0.8 if rag else None,
        "mrr": 0.6 if rag else None,
    }
    intervals = {m: [v - 0.1, v + 0.1] for m, v in metrics.items() if m != "n" and v is not None}
    del intervals["judge_correctness"]  # a metric may lack an interval
    return {
        "name": name,
        "kind": kind,
        "model": f"model-{kind}",
        "rag": rag,
        "metrics": metrics,
        "intervals": intervals,
    }


def _answer(system: str, question: int) -> dict[str, Any]:
    citations = []
    if "rag" in system:
        citations = [
            {
                "n": 1,
                "chunk_id": 5,
                "title": "Q3 report",
                "page_start": 2,
                "page_end": 3,
                "text": "Revenue was $12.4M.",
            }
        ]
    return {
        "text": f"{system} answer to question {question} <b>bold?</b>",
        "scores": {
            "token_f1": 0.1 * question,
            "numeric_match": 1.0 if question == 1 else None,
            "rouge_l": 0.2,
        },
        "citations": citations,
    }


@pytest.fixture
def results() -> dict[str, Any]:
    systems = [
        _system("base", "base", False, 0.0),
        _system("tuned", "tuned", False, 0.05),
        _system("base+rag", "base", True, 0.1),
        _system("tuned+rag", "tuned", True, 0.15),
        _system("gold-context", "reference", False, 0.3),
    ]
    comparisons = [
        {
            "system": name,
            "against": "base",
            "metric": metric,
            "n": 3,
            "mean_a": 0.36,
            "mean_b": 0.31,
            "difference": 0.05 * (i + 1),
            "ci_low": 0.01 if i >= 2 else -0.02,
            "ci_high": 0.12 + 0.05 * i,
            "p_value": 0.2 / (i + 1),
            "significant": i >= 2,
        }
        for i, name in enumerate(SYSTEMS[1:])
        for metric in ("token_f1", "rouge_l", "semantic_similarity")
    ]
    questions = [
        {
            "id": f"gold-{i}",
            "set": "gold" if i < 3 else "test",
            "question": f"What was revenue in Q{i}? {XSS}" if i == 1 else f"Question {i}?",
            "reference": f"$12.{i}M",
            "kind": ("numeric", "factual", "unanswerable")[i - 1],
            "document": "Q3 report" if i != 3 else None,
            "page": 2 if i != 3 else None,
            "source": {"title": "Q3 report", "page_start": 1, "page_end": 1, "text": "Revenue grew."}
            if i != 3
            else None,
            "answers": {name: _answer(name, i) for name in SYSTEMS},
        }
        for i in (1, 2, 3)
    ]
    loss_curve = {
        "train": [{"step": s, "loss": 3.1 - 0.08 * s} for s in range(1, 13)],
        "eval": [{"step": 6, "loss": 2.6}, {"step": 12, "loss": 2.4}],
    }
    return {
        "created_at": "2026-11-27T23:40:00Z",
        "project": "/tmp/demo-run",
        "systems": systems,
        "comparisons": comparisons,
        "notes": ["reference 'gpt-judge' skipped: no API key in OPENAI_API_KEY"],
        "metric_info": {"token_f1": "Overlap of answer tokens with the reference, as F1."},
        "k": 3,
        "dataset": {
            "question_sets": {"test": 8, "gold": 40},
            "counts": {"accepted": 40, "rejected": 60, "splits": {"train": 28, "val": 6, "test": 6}},
            "by_check": {
                "numbers_grounded": {"passed": 50, "failed": 10},
                "refusal": {"passed": 20, "failed": 5},
                "judge_answer": {"passed": 41, "failed": 59},
            },
        },
        "training": {
            "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "adapter_dir": "/tmp/demo-run/adapter",
            "steps": 12,
            "train_loss_first": 3.1,
            "train_loss_last": 2.2,
            "eval_loss_before": 3.0,
            "eval_loss": 2.4,
            "loss_curve": loss_curve,
        },
        "questions": questions,
    }


def _png(img) -> bytes:
    src = img["src"]
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


def test_report_shows_every_system_metric_chart_and_question(results, tmp_path: Path):
    import matplotlib.pyplot as plt

    figures_before = plt.get_fignums()
    path = render_report(results, tmp_path)
    assert path == tmp_path / "report.html"
    assert plt.get_fignums() == figures_before  # no pyplot figure left open
    page = path.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")

    summary = soup.find(id="summary")
    for name in SYSTEMS:
        assert summary.select_one(f'th[data-system="{name}"]') is not None, name
    # the best value of a metric is bold: gold-context leads every metric it has
    best = summary.select_one('tr[data-metric="token_f1"] td[data-system="gold-context"] strong')
    assert best is not None and best.get_text() == "0.61"
    assert (
        "0.51–0.71"
        in summary.select_one('tr[data-metric="token_f1"] td[data-system="gold-context"]').get_text()
    )

    assert "no API key" in soup.find(id="notes").get_text()
    headlines = soup.select(".headline")
    assert [h["data-system"] for h in headlines] == list(SYSTEMS[1:])
    assert "tuned vs base: token F1 +0.05 [\u22120.02, +0.12], not significant" in headlines[0]["title"]

    comparisons = soup.find(id="comparisons")
    assert len(comparisons.select("tr.comparison")) == len(results["comparisons"])
    assert len(comparisons.select("tr.comparison.significant")) == 6

    charts = soup.find(id="charts")
    metric_charts = {img["data-metric"]: _png(img) for img in charts.select("img.chart[data-metric]")}
    assert set(metric_charts) == {m for m in results["systems"][0]["metrics"] if m != "n"}
    for name in ("loss", "dataset"):
        metric_charts[name] = _png(charts.select_one(f'img.chart[data-chart="{name}"]'))
    assert all(data.startswith(PNG_MAGIC) for data in metric_charts.values())

    rows = soup.find(id="questions").select("tr.question")
    assert [r["data-id"] for r in rows] == ["gold-1", "gold-2", "gold-3"]
    for row in rows:
        assert [a["data-system"] for a in row.select(".answer")] == list(SYSTEMS)
    assert rows[0].select_one(".source .passage").get_text() == "Revenue grew."
    assert "Revenue was $12.4M." in rows[0].select_one('.answer[data-system="base+rag"] .citation').get_text()

    # text is escaped, not markup; nothing is fetched from the network
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert soup.find("script") is None and soup.find("b", string="bold?") is None
    for tag in soup.find_all(src=True) + soup.find_all(href=True):
        link = tag.get("src") or tag.get("href")
        assert not link.startswith(("http://", "https://", "//")), link
    assert "url(" not in page and "@import" not in page


def test_report_without_systems_or_questions_is_a_valid_page(tmp_path: Path):
    path = render_report({"systems": [], "questions": [], "training": None}, tmp_path / "new")
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    assert "No systems were evaluated." in soup.find(id="summary").get_text()
    assert "No questions were evaluated." in soup.find(id="questions").get_text()
    assert soup.select("img.chart") == []
    assert soup.select("tr.question") == []

    minimal = {"systems": [{"name": "base", "kind": "base", "metrics": {"n": 2, "token_f1": 0.4}}]}
    soup = BeautifulSoup(render_report(minimal, tmp_path).read_text(encoding="utf-8"), "html.parser")
    assert [img["data-metric"] for img in soup.select("img.chart")] == ["token_f1"]
    assert "No adapter was trained" in soup.find(id="training").get_text()


@pytest.mark.browser
def test_report_opens_in_chromium_without_errors(results, tmp_path: Path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (`make browser` installs the Debian package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = render_report(results, tmp_path)

    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on(
                "request", lambda r: None if r.url.startswith(("file:", "data:")) else errors.append(r.url)
            )
            page.goto(path.as_uri(), wait_until="load")
            widths = page.evaluate("Array.from(document.images, img => img.complete ? img.naturalWidth : 0)")
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert len(widths) == 8 + 2 and all(w > 0 for w in widths), widths
    assert screenshot.read_bytes().startswith(PNG_MAGIC)
    if artifacts := os.environ.get("SYNTHTUNE_TEST_ARTIFACTS"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(screenshot, Path(artifacts) / "eval-report.png")
        shutil.copy2(path, Path(artifacts) / "eval-report.html")
