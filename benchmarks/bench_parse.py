"""Parse + chunk speed on the earnings releases: synthtune vs raw pypdfium2 text extraction.

Baseline: open each PDF with pypdfium2, ``get_textpage().get_text_range()`` on every page, close.
synthtune: ``load_document`` + ``chunk_document`` with the default settings (the embedder's tokenizer
loaded once beforehand; no embedding). Target: synthtune at least 0.7x the baseline's pages/s.

One extra instrumented pass splits chunk_document's time into the tokenizer call, boundary search
and the rest, and one cProfile pass lists the functions with the most self time, so a miss says
where the time goes.

    .venv/bin/python benchmarks/bench_parse.py [--repeats N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
from pathlib import Path
from typing import Any

from common import (
    EARNINGS,
    interleave,
    log,
    md_table,
    median,
    paired_ratios,
    skipped,
    timed,
)

NAME = "parse"
TARGET = "parse + chunk pages/s >= 0.7x raw pypdfium2 text extraction"
THRESHOLD = 0.7


def raw_extract(files: list[Path]) -> int:
    """The baseline: pypdfium2 text of every page, nothing else. Returns pages read."""
    import pypdfium2 as pdfium

    pages = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf.get_page(index)
                textpage = page.get_textpage()
                textpage.get_text_range()
                textpage.close()
                page.close()
                pages += 1
        finally:
            pdf.close()
    return pages


class Synthtune:
    """load_document + chunk_document over the files; keeps the split of time between the two."""

    def __init__(self, files: list[Path]):
        from common import bundled_embedder

        from synthtune.config import Settings

        self.files = files
        self.settings = Settings()
        embedder = bundled_embedder()
        self.tokenizer = embedder.tokenizer  # loaded once, outside the timings
        self.max_tokens = embedder.max_seq_length
        self.load_s: list[float] = []
        self.chunk_s: list[float] = []
        self.n_chunks = 0

    def __call__(self) -> int:
        from synthtune.ingest.chunking import chunk_document
        from synthtune.ingest.loaders import load_document

        s = self.settings.ingest
        pages = chunks = 0
        load_s = chunk_s = 0.0
        for path in self.files:
            seconds, doc = timed(lambda p=path: load_document(p))
            load_s += seconds
            seconds, specs = timed(
                lambda d=doc: chunk_document(
                    d,
                    self.tokenizer,
                    size=s.chunk_size,
                    overlap=s.chunk_overlap,
                    max_tokens=self.max_tokens,
                    with_header=self.settings.embedding.contextual_header,
                )
            )
            chunk_s += seconds
            pages += len(doc.pages)
            chunks += len(specs)
        self.load_s.append(load_s)
        self.chunk_s.append(chunk_s)
        self.n_chunks = chunks
        return pages


def breakdown_pass(run: Synthtune) -> dict[str, float]:
    """One instrumented pass: seconds in load_document, in the tokenizer call that chunk_document makes
    (timed by running the same call on the same pages), in boundary search, and in the rest of chunking."""
    import synthtune.ingest.chunking as chunking
    from synthtune.ingest.loaders import load_document

    s = run.settings.ingest
    spent = {"boundary": 0.0}
    originals = {n: getattr(chunking, n) for n in ("_last_boundary", "_first_boundary_after")}

    def clocked(fn):
        def wrapper(*args):
            seconds, result = timed(lambda: fn(*args))
            spent["boundary"] += seconds
            return result

        return wrapper

    load_s = tok_s = chunk_s = 0.0
    for name, fn in originals.items():
        setattr(chunking, name, clocked(fn))
    try:
        for path in run.files:
            seconds, doc = timed(lambda p=path: load_document(p))
            load_s += seconds
            texts = [p.text for p in doc.pages]
            tok_s += timed(
                lambda t=texts: run.tokenizer(t, add_special_tokens=False, return_offsets_mapping=True)
            )[0]
            chunk_s += timed(
                lambda d=doc: chunking.chunk_document(
                    d, run.tokenizer, size=s.chunk_size, overlap=s.chunk_overlap, max_tokens=run.max_tokens
                )
            )[0]
    finally:
        for name, fn in originals.items():
            setattr(chunking, name, fn)
    return {
        "load_document": load_s,
        "tokenizer (page texts with offsets)": tok_s,
        "boundary search (regex)": spent["boundary"],
        "other chunking (token spans, headers, specs)": max(chunk_s - tok_s - spent["boundary"], 0.0),
    }


def cprofile_top(run: Synthtune, n: int = 12) -> list[tuple[str, float]]:
    """Functions with the most self time over one cProfile pass (C calls through ctypes count to their
    Python caller, so pdfium's time shows up under pypdfium2's get_page / get_textpage)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    top = sorted(
        (
            (tottime, f"{Path(file).name}:{line}({func})")
            for (file, line, func), (_, _, tottime, _, _) in stats.items()
        ),
        reverse=True,
    )
    return [(name, round(t, 3)) for t, name in top[:n]]


def main(repeats: int = 4) -> dict[str, Any]:
    if not EARNINGS.is_dir():
        return skipped(
            NAME, TARGET, f"{EARNINGS} is absent (the real earnings releases live in ../shared/data)"
        )
    files = sorted(EARNINGS.glob("*.pdf"))
    if not files:
        return skipped(NAME, TARGET, f"no PDF in {EARNINGS}")

    synth = Synthtune(files)
    n_pages = raw_extract(files)
    log(NAME, f"{len(files)} PDFs, {n_pages} pages; {repeats} interleaved rounds after a warm-up")
    times = interleave({"raw pypdfium2": lambda: raw_extract(files), "synthtune": synth}, repeats=repeats)
    raw_t, syn_t = median(times["raw pypdfium2"]), median(times["synthtune"])
    ratio = raw_t / syn_t  # (pages / syn_t) / (pages / raw_t)
    per_round = paired_ratios(times["raw pypdfium2"], times["synthtune"])
    # the interleave's warm-up round also recorded a load/chunk split: keep the measured rounds only
    load_t, chunk_t = median(synth.load_s[1:]), median(synth.chunk_s[1:])
    passed = ratio >= THRESHOLD

    log(NAME, "one instrumented pass and one cProfile pass, for where the time goes")
    split = breakdown_pass(synth)
    top = cprofile_top(synth)
    whole = sum(split.values())

    rows = [
        [
            "raw pypdfium2 (open, get_text_range per page, close)",
            f"{raw_t:.2f}",
            f"{n_pages / raw_t:.1f}",
            "1.00x",
        ],
        [
            "synthtune load_document + chunk_document",
            f"{syn_t:.2f}",
            f"{n_pages / syn_t:.1f}",
            f"{ratio:.2f}x",
        ],
        ["... of which load_document", f"{load_t:.2f}", f"{n_pages / load_t:.1f}", f"{raw_t / load_t:.2f}x"],
        ["... of which chunk_document", f"{chunk_t:.2f}", f"{n_pages / chunk_t:.1f}", ""],
    ]
    table = md_table(["", "median s", "pages/s", "vs raw"], rows)
    table += (
        f"\n\n{len(files)} PDFs, {n_pages} pages, {synth.n_chunks} chunks (chunk_size "
        f"{synth.settings.ingest.chunk_size}, overlap {synth.settings.ingest.chunk_overlap}); median of "
        f"{repeats} interleaved rounds; per-round ratios: {', '.join(f'{r:.2f}' for r in per_round)}. "
        f"Target >= {THRESHOLD}x: **{ratio:.2f}x**.\n\n"
        "Where synthtune's time goes (one instrumented pass):\n\n"
        + md_table(
            ["part", "s", "share"],
            [[label, f"{secs:.2f}", f"{secs / whole:.0%}"] for label, secs in split.items()],
        )
        + "\n\nMost self time in one cProfile pass: "
        + ", ".join(f"`{name}` {secs:.2f} s" for name, secs in top[:5])
        + "."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"{ratio:.2f}x ({n_pages / syn_t:.1f} vs {n_pages / raw_t:.1f} pages/s)",
        "table": table,
        "details": {
            "files": len(files),
            "pages": n_pages,
            "chunks": synth.n_chunks,
            "ratio": round(ratio, 3),
            "raw_pages_per_s": round(n_pages / raw_t, 2),
            "synthtune_pages_per_s": round(n_pages / syn_t, 2),
            "raw_s": [round(t, 3) for t in times["raw pypdfium2"]],
            "synthtune_s": [round(t, 3) for t in times["synthtune"]],
            "load_document_s": round(load_t, 3),
            "chunk_document_s": round(chunk_t, 3),
            "per_round_ratio": [round(r, 3) for r in per_round],
            "breakdown_s": {k: round(v, 3) for k, v in split.items()},
            "cprofile_top_self_s": top,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="interleaved rounds (after one warm-up)")
    args = parser.parse_args()
    result = main(args.repeats)
    print(result["table"])
    print(json.dumps(result["details"], indent=1, default=str))
