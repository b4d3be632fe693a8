"""Document splits, decided before any answer is written.

Each document's split depends only on its sha256, its file name (``curate.test_documents``) and the
split settings, so generation can restrict an answer's retrieval to documents of its question's split
and curation finds the same split: no example cites a document of another split.
"""

from __future__ import annotations

import fnmatch
import random
from pathlib import Path
from typing import Protocol

from synthtune.config import CurateSettings

SPLIT_PRIORITY = {"test": 0, "train": 1, "val": 2}
"""Which split a figure or question that several splits could hold goes to: held out in test, else trained
on, else in val (lower first)."""


class _Doc(Protocol):
    id: int
    sha256: str
    source_path: str


def document_splits(docs: list[_Doc], c: CurateSettings) -> dict[int, str]:
    """train / val / test per document id: the forced test documents, then the rest shuffled (seeded)
    by sha256 and cut by ``split_ratios``; with three or more documents each split with a share gets one."""
    forced = {
        d.id
        for d in docs
        if any(
            fnmatch.fnmatch(Path(d.source_path).name, p) or fnmatch.fnmatch(d.source_path, p)
            for p in c.test_documents
        )
    }
    rest = sorted((d for d in docs if d.id not in forced), key=lambda d: d.sha256)
    random.Random(c.seed).shuffle(rest)
    total = sum(c.split_ratios.values()) or 1.0
    n = len(rest)
    n_test = round(n * c.split_ratios.get("test", 0) / total)
    n_val = round(n * c.split_ratios.get("val", 0) / total)
    if n >= 3:
        if c.split_ratios.get("test", 0) > 0 and not forced:
            n_test = max(n_test, 1)
        if c.split_ratios.get("val", 0) > 0:
            n_val = max(n_val, 1)
    out = {d: "test" for d in forced}
    for i, d in enumerate(rest):
        out[d.id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out
