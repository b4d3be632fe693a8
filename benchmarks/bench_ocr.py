"""OCR accuracy and speed on pages of the 25 earnings releases rendered to 150-dpi images.

20 pages with a good text layer (over 200 characters) are drawn with a fixed seed; each is rendered to
a 150-dpi image and the images are written as one image-only PDF, as a scanner would. synthtune OCRs
that PDF the way ingest does (``ocr_pdf_pages``: render at ``ingest.ocr_dpi``, Tesseract, two pages at
a time); the page's own text layer (ligatures repaired) is the reference.

Character error rate = edit distance / reference characters, after normalising both sides (NFKC,
typographic quotes and dashes to ASCII, bullets dropped, whitespace collapsed). It is reported two
ways: in reading order, and with each side's words sorted first. The second is the target's measure:
a text layer's order is the PDF's drawing order, not the reading order (Intel's first page draws its
footnote first), so the first mostly counts moved lines, not misread characters.

Engines compared on the same images: Tesseract at 150 dpi as given, Tesseract with the page rendered
at 225 dpi (the default ``ingest.ocr_dpi``), and RapidOCR (``rapidocr-onnxruntime``, not a dependency:
measured on a few pages when it is installed). Throughput is pages/s of wall time for the 20 pages,
median of the rounds, on a shared 2-core machine whose load changes under it.
Target: CER <= 3% and >= 1 page/s.

    .venv/bin/python benchmarks/bench_ocr.py [--pages N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from common import EARNINGS, log, md_table, median, skipped

NAME = "ocr"
TARGET = "OCR CER <= 3% (words in any order) on 150-dpi images of earnings-release pages, >= 1 page/s"
MAX_CER = 0.03
MIN_PAGES_PER_S = 1.0
SEED = 14
_TRANSLATE = str.maketrans({"“": '"', "”": '"', "’": "'", "‘": "'", "–": "-", "—": "-", "•": " ", "▪": " "})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    return re.sub(r"\s+", " ", text).strip()


def cer(reference: str, hypothesis: str, *, sort_words: bool) -> tuple[int, int]:
    """(edit distance, reference characters) of the normalised texts."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = normalise(reference), normalise(hypothesis)
    if sort_words:
        ref, hyp = " ".join(sorted(ref.split())), " ".join(sorted(hyp.split()))
    return Levenshtein.distance(ref, hyp), len(ref)


def sample_pages(n: int) -> list[tuple[Path, int, str]]:
    """``n`` (file, page, reference text) with a good text layer, drawn with a fixed seed."""
    from synthtune.ingest.loaders import load_document

    candidates = []
    for path in sorted(EARNINGS.glob("*.pdf")):
        doc = load_document(path)
        candidates += [
            (path, p.page_no, p.text) for p in doc.pages if p.has_text and len(p.text.strip()) > 200
        ]
    return sorted(random.Random(SEED).sample(candidates, n))


def scanned_pdf(pages: list[tuple[Path, int, str]], out: Path, dpi: int = 150) -> Path:
    """The sampled pages as 150-dpi images in one image-only PDF."""
    import pypdfium2 as pdfium

    images = []
    for path, page_no, _ in pages:
        pdf = pdfium.PdfDocument(path)
        images.append(pdf[page_no - 1].render(scale=dpi / 72).to_pil().convert("L"))
        pdf.close()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out


def run_tesseract(scan: Path, n: int, dpi: int) -> tuple[float, list[str]]:
    """Wall seconds and texts for OCR of every page of ``scan`` as ingest does it."""
    import pypdfium2 as pdfium

    from synthtune.ingest.ocr import OCRError, OCROptions, ocr_pdf_pages

    pdf = pdfium.PdfDocument(scan)
    try:
        start = time.perf_counter()
        got = ocr_pdf_pages(pdf, list(range(1, n + 1)), OCROptions(dpi=dpi, workers=2))
        seconds = time.perf_counter() - start
    finally:
        pdf.close()
    return seconds, ["" if isinstance(r, OCRError) else r.text for _, r in sorted(got.items())]


def run_rapidocr(scan: Path, pages: list[int]) -> tuple[float, list[str]] | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    import numpy as np
    import pypdfium2 as pdfium

    engine = RapidOCR()
    pdf = pdfium.PdfDocument(scan)
    texts = []
    start = time.perf_counter()
    for page_no in pages:
        image = pdf[page_no - 1].render(scale=150 / 72).to_pil().convert("RGB")
        result, _ = engine(np.array(image))
        texts.append("\n".join(r[1] for r in result or []))
    seconds = time.perf_counter() - start
    pdf.close()
    return seconds, texts


def score(pages: list[tuple[Path, int, str]], texts: list[str]) -> dict[str, float]:
    ordered = [cer(ref, hyp, sort_words=False) for (_, _, ref), hyp in zip(pages, texts, strict=True)]
    sorted_ = [cer(ref, hyp, sort_words=True) for (_, _, ref), hyp in zip(pages, texts, strict=True)]
    return {
        "cer_any_order": sum(d for d, _ in sorted_) / sum(n for _, n in sorted_),
        "cer_reading_order": sum(d for d, _ in ordered) / sum(n for _, n in ordered),
        "median_page_cer_any_order": median([d / n for d, n in sorted_]),
    }


def main(n_pages: int = 20, repeats: int = 2, rapid_pages: int = 3) -> dict[str, Any]:
    from synthtune.config import IngestSettings
    from synthtune.ingest.ocr import ocr_available, tesseract_version

    if not EARNINGS.is_dir():
        return skipped(NAME, TARGET, "../shared/data/earnings_releases is absent")
    if not ocr_available():
        return skipped(NAME, TARGET, "tesseract is not installed (make ocr)")
    default_dpi = IngestSettings().ocr_dpi
    pages = sample_pages(n_pages)
    log(NAME, f"{len(pages)} pages, seed {SEED}; {repeats} rounds")
    rows, details = [], {"pages": [f"{p.name}:{n}" for p, n, _ in pages], "engines": {}}
    with tempfile.TemporaryDirectory() as tmp:
        scan = scanned_pdf(pages, Path(tmp) / "scan.pdf")
        for label, dpi in (
            (f"Tesseract, rendered at {default_dpi} dpi (default)", default_dpi),
            ("Tesseract, 150 dpi as given", 150),
        ):
            times, texts = [], []
            for _ in range(repeats):
                seconds, texts = run_tesseract(scan, len(pages), dpi)
                times.append(seconds)
            m = score(pages, texts)
            rate = len(pages) / median(times)
            details["engines"][label] = {
                **{k: round(v, 4) for k, v in m.items()},
                "pages_per_s": round(rate, 3),
                "seconds": times,
            }
            rows.append(
                [
                    label,
                    len(pages),
                    f"{m['cer_any_order']:.2%}",
                    f"{m['cer_reading_order']:.2%}",
                    f"{rate:.2f}",
                ]
            )
            log(NAME, f"{label}: {rows[-1]}")
        rapid = run_rapidocr(scan, list(range(1, rapid_pages + 1)))
        if rapid is not None:
            seconds, texts = rapid
            m = score(pages[:rapid_pages], texts)
            label = "RapidOCR (rapidocr-onnxruntime), 150 dpi, one page at a time"
            details["engines"][label] = {**{k: round(v, 4) for k, v in m.items()}, "seconds": seconds}
            rows.append(
                [
                    label,
                    rapid_pages,
                    f"{m['cer_any_order']:.2%}",
                    f"{m['cer_reading_order']:.2%}",
                    f"{rapid_pages / seconds:.2f}",
                ]
            )
            tess_same = score(pages[:rapid_pages], _first_texts(scan, rapid_pages, default_dpi))
            details["tesseract_on_rapidocr_pages"] = {k: round(v, 4) for k, v in tess_same.items()}
    chosen = details["engines"][f"Tesseract, rendered at {default_dpi} dpi (default)"]
    passed = chosen["cer_any_order"] <= MAX_CER and chosen["pages_per_s"] >= MIN_PAGES_PER_S
    table = md_table(["engine", "pages", "CER (words any order)", "CER (reading order)", "pages/s"], rows) + (
        f"\n\n{tesseract_version()}; {len(pages)} pages drawn with seed {SEED} from the pages with over 200 "
        f"characters of text layer; images at 150 dpi in an image-only PDF, OCR'd as ingest does (two pages "
        f"at a time, one Tesseract thread each); pages/s is the median of {repeats} rounds of wall time on a "
        f"shared 2-core machine (load in the header). CER in reading order counts lines the PDF draws in "
        f"another order as errors, so the target uses the words-in-any-order CER. RapidOCR's bundled "
        f'recogniser runs English words together ("IntelReportsFirst-Quarter") and is much slower here; '
        f"Tesseract is the engine. Target <= {MAX_CER:.0%} and >= {MIN_PAGES_PER_S:g} page/s: "
        f"**{chosen['cer_any_order']:.2%}, {chosen['pages_per_s']:.2f} pages/s**."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"CER {chosen['cer_any_order']:.2%}, {chosen['pages_per_s']:.2f} pages/s",
        "table": table,
        "details": details,
    }


def _first_texts(scan: Path, n: int, dpi: int) -> list[str]:
    return run_tesseract(scan, n, dpi)[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rapid-pages", type=int, default=3)
    args = parser.parse_args()
    result = main(args.pages, args.repeats, args.rapid_pages)
    print(result["table"])
    print(json.dumps(result["details"], indent=1))
