"""The web app's server time on a store of the earnings releases: the ask/search screen (search and
page rendering; answer generation excluded: it is a separate request) and the page image of a cited
passage, rendered with pdfium cold (cache emptied) and then served from the project's cache.

The app runs in process behind Starlette's TestClient, so the times are the server's (routing, search,
templates, rendering, PNG encoding) without a network. Queries are phrases a reader of earnings releases
asks; each is run several times and the median per query kept. Pages are the first page cited by each
query's top hits.
Targets: ask/search screen p50 <= 100 ms; page image <= 300 ms cold and <= 20 ms cached (p50).

    .venv/bin/python benchmarks/bench_web.py [--max-files N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import EARNINGS, bundled_embedder, log, md_table, median, percentile, skipped, timed

NAME = "web"
TARGET = "ask/search screen p50 <= 100 ms (generation excluded); page image <= 300 ms cold, <= 20 ms cached"
ASK_MS, COLD_MS, CACHED_MS = 100.0, 300.0, 20.0
QUERIES = [
    "total revenue for the quarter",
    "diluted earnings per share",
    "operating margin compared with last year",
    "free cash flow",
    "full year guidance",
    "gross margin",
    "share repurchases and dividends",
    "comparable sales growth",
    "net income attributable to shareholders",
    "capital expenditures",
    "operating expenses",
    "cash and cash equivalents at quarter end",
    "non-GAAP adjusted earnings per share",
    "revenue by segment",
    "effective tax rate",
    "outlook for next quarter",
    "number of stores",
    "restructuring charges",
    "long-term debt",
    "foreign exchange impact on revenue",
]


def main(max_files: int = 25, repeats: int = 5) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from synthtune.config import parse_settings
    from synthtune.ingest.pipeline import ingest
    from synthtune.project import Project
    from synthtune.web import create_app
    from synthtune.web.app import CACHE_DIR

    if not EARNINGS.is_dir():
        return skipped(NAME, TARGET, f"{EARNINGS} is absent")
    files = sorted(EARNINGS.glob("*.pdf"))[:max_files]
    embedder = bundled_embedder()
    embedder.encode(["load the model before the clock starts"])
    with tempfile.TemporaryDirectory(prefix="synthtune-bench-web-") as tmp:
        project = Project(Path(tmp), parse_settings({}))
        project._embedder = embedder
        log(NAME, f"ingesting {len(files)} earnings releases")
        ingest_s, report = timed(lambda: ingest(project.store, project.settings, files, embedder=embedder))
        counts = project.store.kb_counts()
        log(NAME, f"ingested in {ingest_s:.0f} s: {counts}")
        app = create_app(project)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            client.get("/ask", params={"q": "warm up"})  # loads the vectors: the server's first request
            ask_ms = []
            for q in QUERIES:
                runs = [
                    timed(lambda q=q: client.get("/ask", params={"q": q}))[0] * 1000 for _ in range(repeats)
                ]
                ask_ms.append(median(runs))
            search_ms = [
                timed(lambda q=q: client.get("/api/search", params={"q": q}))[0] * 1000 for q in QUERIES
            ]
            pages = []
            for q in QUERIES:
                for h in client.get("/api/search", params={"q": q}).json()["results"]:
                    key = (h["document_id"], h["page_start"], h["chunk_id"])
                    if key[:2] not in {p[:2] for p in pages}:
                        pages.append(key)
                        break
            shutil.rmtree(project.dir / CACHE_DIR, ignore_errors=True)
            cold, cached, boxes = [], [], []
            for doc, page, chunk in pages:
                url = f"/api/documents/{doc}/pages/{page}/image.png"
                cold.append(timed(lambda url=url: client.get(url))[0] * 1000)
                cached.append(
                    median([timed(lambda url=url: client.get(url))[0] * 1000 for _ in range(repeats)])
                )
                view = f"/api/documents/{doc}/pages/{page}"
                boxes.append(
                    timed(lambda view=view, chunk=chunk: client.get(view, params={"chunk": chunk}))[0] * 1000
                )
        project.close()

    rows = [
        ("ask/search screen (GET /ask?q=)", len(ask_ms), median(ask_ms), percentile(ask_ms, 95), ASK_MS),
        ("search API (GET /api/search)", len(search_ms), median(search_ms), percentile(search_ms, 95), None),
        ("page image, cold (pdfium render + PNG)", len(cold), median(cold), percentile(cold, 95), COLD_MS),
        ("page image, cached", len(cached), median(cached), percentile(cached, 95), CACHED_MS),
        ("page highlight boxes (GET /api/documents/D/pages/P?chunk=)", len(boxes), median(boxes), percentile(boxes, 95), None),
    ]  # fmt: skip
    passed = median(ask_ms) <= ASK_MS and median(cold) <= COLD_MS and median(cached) <= CACHED_MS
    table = md_table(
        ["request", "n", "p50 ms", "p95 ms", "target p50 ms"],
        [
            (name, n, f"{p50:.1f}", f"{p95:.1f}", "" if t is None else f"<= {t:.0f}")
            for name, n, p50, p95, t in rows
        ],
    )
    corpus = (
        f"{len(files)} of the 25 earnings releases ({counts.documents} documents, {counts.chunks} chunks)"
    )
    table = f"Store: {corpus}, ingested in {ingest_s:.0f} s.\n\n{table}"
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"ask screen p50 {median(ask_ms):.0f} ms; page image {median(cold):.0f} ms cold, "
        f"{median(cached):.1f} ms cached ({len(files)} releases)",
        "table": table,
        "details": {
            "files": len(files),
            "failed": [f["path"] for f in report.failed],
            "ask_ms": ask_ms,
            "cold_ms": cold,
            "cached_ms": cached,
            "boxes_ms": boxes,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-files", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = main(args.max_files, args.repeats)
    print(result["table"])
    print(json.dumps({k: v for k, v in result["details"].items() if not k.endswith("_ms")}))
