"""Validate the retrieval dev set (search_dev.jsonl) against the real documents.

Checks, for every row: all fields present and well typed, ids unique, the file exists under
../shared/data/<corpus>/ (ectsum: ectsum/test/ects/), the quote is 10-25 words, and the
whitespace-normalised quote occurs in the whitespace-normalised text of one of the listed pages
(PDF pages as pypdfium2 extracts them, 1-based; an ECTSum .txt file is a single page 1).
An optional `alt_files` list names identical copies of the document under other names (the
Ulta Beauty 2024Q1/2024Q2 files duplicate 2023Q1/2023Q2); the quote must be on the same pages there.

Prints one line per failure and a summary; exits 1 on any failure. Exits 0 with a message when the
data directory is absent (the documents are never committed).

Usage: python benchmarks/devsets/validate.py [path/to/search_dev.jsonl] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DEVSET = HERE / "search_dev.jsonl"
DEFAULT_DATA = HERE.parents[2] / "shared" / "data"  # /work/main/benchmarks/devsets -> /work/shared/data

FIELDS = {
    "id": str,
    "corpus": str,
    "file": str,
    "pages": list,
    "question": str,
    "answer": str,
    "quote": str,
}
CORPUS_DIRS = {
    "earnings_releases": Path("earnings_releases"),
    "ectsum": Path("ectsum") / "test" / "ects",
}
MIN_QUOTE_WORDS, MAX_QUOTE_WORDS = 10, 25

_WS = re.compile(r"\s+")


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


class PageCache:
    """Normalised page texts per file, loaded lazily and kept for the run."""

    def __init__(self) -> None:
        self._pages: dict[Path, list[str]] = {}

    def pages(self, path: Path) -> list[str]:
        if path not in self._pages:
            if path.suffix.lower() == ".pdf":
                import pypdfium2 as pdfium

                doc = pdfium.PdfDocument(str(path))
                try:
                    texts = []
                    for i in range(len(doc)):
                        page = doc[i]
                        textpage = page.get_textpage()
                        texts.append(norm(textpage.get_text_range()))
                        textpage.close()
                        page.close()
                finally:
                    doc.close()
            else:
                texts = [norm(path.read_text(encoding="utf-8", errors="replace"))]
            self._pages[path] = texts
        return self._pages[path]


def check_row(row: object, lineno: int, data: Path, cache: PageCache) -> list[str]:
    if not isinstance(row, dict):
        return [f"line {lineno}: not a JSON object"]
    rid = row.get("id", f"<line {lineno}>")
    errors = []
    for field, typ in FIELDS.items():
        if field not in row:
            errors.append(f"{rid}: missing field {field!r}")
        elif not isinstance(row[field], typ) or (typ is str and not row[field].strip()):
            errors.append(f"{rid}: field {field!r} must be a non-empty {typ.__name__}")
    if errors:
        return errors
    corpus = row["corpus"]
    if corpus not in CORPUS_DIRS:
        return [f"{rid}: unknown corpus {corpus!r}"]
    pages = row["pages"]
    if not pages or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in pages):
        return [f"{rid}: pages must be a non-empty list of 1-based page numbers"]
    path = data / CORPUS_DIRS[corpus] / row["file"]
    if not path.is_file():
        return [f"{rid}: file not found: {path}"]
    quote = norm(row["quote"])
    n_words = len(quote.split(" "))
    if not MIN_QUOTE_WORDS <= n_words <= MAX_QUOTE_WORDS:
        errors.append(f"{rid}: quote has {n_words} words (want {MIN_QUOTE_WORDS}-{MAX_QUOTE_WORDS})")
    try:
        texts = cache.pages(path)
    except Exception as exc:  # unreadable document
        return errors + [f"{rid}: cannot read {path.name}: {exc}"]
    bad = [p for p in pages if p > len(texts)]
    if bad:
        errors.append(f"{rid}: page(s) {bad} beyond {path.name}'s {len(texts)} page(s)")
    if not any(quote in texts[p - 1] for p in pages if p <= len(texts)):
        found = [i + 1 for i, t in enumerate(texts) if quote in t]
        hint = f" (found on page(s) {found})" if found else " (not found in the document)"
        errors.append(f"{rid}: quote not on listed page(s) {pages}{hint}")
    # Optional: byte-identical copies of the same document filed under another name (same pages).
    alt_files = row.get("alt_files", [])
    if not isinstance(alt_files, list) or not all(isinstance(a, str) for a in alt_files):
        return errors + [f"{rid}: alt_files must be a list of file names"]
    for alt in alt_files:
        alt_path = data / CORPUS_DIRS[corpus] / alt
        if not alt_path.is_file():
            errors.append(f"{rid}: alt file not found: {alt_path}")
            continue
        alt_texts = cache.pages(alt_path)
        if not any(quote in alt_texts[p - 1] for p in pages if p <= len(alt_texts)):
            errors.append(f"{rid}: quote not on listed page(s) {pages} of alt file {alt}")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("devset", nargs="?", type=Path, default=DEFAULT_DEVSET)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args(argv)

    if not args.data.is_dir():
        print(f"SKIP: data directory {args.data} is absent; nothing to validate")
        return 0

    failures: list[str] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    beyond_p1 = 0
    n = 0
    cache = PageCache()
    with args.devset.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            n += 1
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                failures.append(f"line {lineno}: invalid JSON: {exc}")
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                if row["id"] in seen:
                    failures.append(f"{row['id']}: duplicate id")
                seen.add(row["id"])
            errs = check_row(row, lineno, args.data, cache)
            failures.extend(errs)
            if not errs:
                counts[row["corpus"]] = counts.get(row["corpus"], 0) + 1
                if row["corpus"] == "earnings_releases" and max(row["pages"]) > 1:
                    beyond_p1 += 1

    for f in failures:
        print("FAIL", f)
    per_corpus = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"
    print(
        f"{n} rows, {len(failures)} failure(s); valid per corpus: {per_corpus}; "
        f"earnings-release rows with evidence beyond page 1: {beyond_p1}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
