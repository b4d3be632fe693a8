"""OCR of page images with Tesseract, giving text with a box per word and per line.

Why Tesseract (5.x, LSTM, the Debian ``tesseract-ocr`` package) and not RapidOCR (``rapidocr-onnxruntime``,
PP-OCR models in the wheel): measured side by side on 150-dpi images of 20 pages of the 25 earnings
releases (``benchmarks/bench_ocr.py``, RESULTS.md), Tesseract misread 1.7% of the characters (words in
any order, pages rendered at 225 dpi) at 1.6 pages/s on this shared 2-core machine, while RapidOCR's
bundled recogniser ran most English words together ("IntelReportsFirst-Quarter": 68% by the same
measure) at 0.06 pages/s. Words run together would defeat BM25, so Tesseract it is; it is called as a
program (no Python binding to build), one process per page, which also makes a per-page timeout exact.

Boxes are in PDF points from the page's top-left corner, so the web app can draw highlights over an
OCR'd page exactly as it does over pdfium text: each word and line carries ``[start, end)`` character
offsets into the page text, and its box.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthtune.errors import SynthtuneError

if TYPE_CHECKING:
    from PIL.Image import Image

_MIN_CONFIDENCE = 0  # Tesseract writes -1 for non-word rows; every recognised word is kept


class OCRError(SynthtuneError):
    """OCR of one page failed or timed out (the caller names the page)."""


@dataclass(frozen=True)
class OCROptions:
    """When and how a loader OCRs a page (``ingest.ocr*`` settings).

    ``auto`` reads the pages that have no usable text layer (none, or garbage); ``always`` every page
    that is not blank; ``never`` none. Pages are rendered at ``dpi`` (225: rendering a 150-dpi scan at
    1.5x cut the error rate from 3.1% to 2.0% on the benchmark pages, for a third more time)."""

    mode: str = "auto"
    dpi: int = 225
    timeout_s: float = 120.0
    workers: int = 2
    language: str = "eng"


@dataclass(frozen=True)
class OCRWord:
    start: int  # offset of the word in OCRPage.text
    end: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points from the top-left corner


@dataclass(frozen=True)
class OCRPage:
    text: str
    words: list[OCRWord]
    lines: list[OCRWord]  # one span per line of text, its box the union of its words'
    engine: str

    def to_json(self, dpi: int) -> dict[str, Any]:
        """Compact form kept in the page's metadata: ``[start, end, x0, y0, x1, y1]`` rows."""

        def rows(spans: list[OCRWord]) -> list[list[float]]:
            return [[s.start, s.end, *(round(v, 1) for v in s.box)] for s in spans]

        return {
            "engine": self.engine,
            "dpi": dpi,
            "units": "pt",
            "lines": rows(self.lines),
            "words": rows(self.words),
        }


@functools.lru_cache(maxsize=1)
def tesseract_version() -> str | None:
    """``tesseract 5.3.0`` or None when the program is not installed."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "tesseract"


def ocr_available() -> bool:
    return tesseract_version() is not None


def ocr_image(image: Image, *, dpi: int, timeout: float, language: str = "eng") -> OCRPage:
    """Recognise one page image rendered at ``dpi``; raises :class:`OCRError` on failure or timeout."""
    version = tesseract_version()
    if version is None:
        raise OCRError("OCR needs Tesseract: install the tesseract-ocr package (make install does)")
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # pages run in parallel; one thread each is fastest
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", language, "--psm", "3", "--dpi", str(dpi), "tsv"],
            input=buf.getvalue(),
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OCRError(f"OCR timed out after {timeout:g} s") from None
    except OSError as exc:
        raise OCRError(f"OCR could not run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OCRError(f"OCR failed: {detail[-1] if detail else f'exit status {done.returncode}'}")
    return parse_tsv(done.stdout.decode("utf-8", "replace"), scale=72.0 / dpi, engine=version)


def parse_tsv(tsv: str, *, scale: float, engine: str) -> OCRPage:
    """Page text from Tesseract's TSV: words joined by spaces, lines by newlines, blocks by a blank line;
    boxes scaled from pixels to points by ``scale``."""
    parts: list[str] = []
    words: list[OCRWord] = []
    lines: list[OCRWord] = []
    at = 0
    last_block = last_line = None
    line_words: list[OCRWord] = []

    def close_line() -> None:
        if line_words:
            box = (
                min(w.box[0] for w in line_words),
                min(w.box[1] for w in line_words),
                max(w.box[2] for w in line_words),
                max(w.box[3] for w in line_words),
            )
            lines.append(OCRWord(line_words[0].start, line_words[-1].end, box))
            line_words.clear()

    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11].strip()
        if not word or float(cols[10]) < _MIN_CONFIDENCE:
            continue
        block, line = (cols[2], cols[3]), (cols[2], cols[3], cols[4])
        if last_line is not None and line != last_line:
            close_line()
            sep = "\n\n" if block != last_block else "\n"
        else:
            sep = " " if last_line is not None else ""
        parts.append(sep)
        at += len(sep)
        left, top, width, height = (int(c) for c in cols[6:10])
        box = (left * scale, top * scale, (left + width) * scale, (top + height) * scale)
        w = OCRWord(at, at + len(word), box)
        words.append(w)
        line_words.append(w)
        parts.append(word)
        at += len(word)
        last_block, last_line = block, line
    close_line()
    return OCRPage("".join(parts), words, lines, engine)


def ocr_pdf_pages(pdf: Any, page_numbers: list[int], options: OCROptions) -> dict[int, OCRPage | OCRError]:
    """OCR these pages (1-based) of an open ``pypdfium2.PdfDocument``, ``options.workers`` at a time.

    pdfium is not thread-safe, so pages are rendered one at a time under a lock; the recognisers run
    in parallel in their own processes. At most ``workers`` page images exist at once, whatever the
    length of the document. A page that fails is returned as its :class:`OCRError`."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    render_lock = threading.Lock()

    def one(page_no: int) -> OCRPage | OCRError:
        try:
            with render_lock:
                page = pdf.get_page(page_no - 1)
                try:
                    image = page.render(scale=options.dpi / 72, grayscale=True).to_pil()
                finally:
                    page.close()
            return ocr_image(image, dpi=options.dpi, timeout=options.timeout_s, language=options.language)
        except OCRError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a page pdfium cannot render is one failed page
            return OCRError(f"page could not be rendered for OCR ({type(exc).__name__})")

    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        return dict(zip(page_numbers, pool.map(one, page_numbers), strict=True))
