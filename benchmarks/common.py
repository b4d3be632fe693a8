"""Shared helpers for the benchmarks: environment, machine header, interleaved timing, tables.

Every ``bench_*.py`` module has ``main() -> dict`` with the keys ``name``, ``target``, ``passed``
(True, False, or None when skipped), ``table`` (markdown) and ``details`` (free-form JSON-able dict);
``run_all.py`` collects them into ``RESULTS.md``.

Timings on a shared machine drift with the load, so baselines and candidates are measured side by
side: :func:`interleave` runs them in alternating order (A B, B A, A B, ...) and reports medians.
"""

from __future__ import annotations

import os

# Before anything imports transformers or tokenizers: offline, one tokenizer thread, a private cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SYNTHTUNE_CACHE", "/tmp/stcache")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import datetime as _dt  # noqa: E402
import importlib.metadata  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED_DATA = Path(os.environ.get("SYNTHTUNE_SHARED_DATA", REPO.parent / "shared" / "data"))
EARNINGS = SHARED_DATA / "earnings_releases"
DEMO_DOCS = REPO / "examples" / "acme" / "docs"
DEMO_GOLD = REPO / "examples" / "acme" / "gold.jsonl"

_VERSIONED = ["torch", "transformers", "sentence-transformers", "tokenizers", "pypdfium2", "numpy"]

# "Token indices sequence length is longer than ..." is expected: pages are tokenized whole, then split.
logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)


# ----------------------------------------------------------------------------------------- machine


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "n/a"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_header() -> dict[str, str]:
    """Date, machine, versions and the current load average (1 / 5 / 15 min)."""
    header = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": _ram_gib(),
        "python": platform.python_version(),
    }
    header.update({name: _version(name) for name in _VERSIONED})
    header["sqlite"] = sqlite3.sqlite_version
    header["load average"] = load_average()
    return header


def header_markdown(header: dict[str, str]) -> str:
    machine = f"{header['cpu']}, {header['cores']} cores, {header['ram']} RAM"
    versions = ", ".join(f"{k} {header[k]}" for k in ["python", *_VERSIONED, "sqlite"] if k in header)
    return (
        f"- run: {header['date']}; load average (1/5/15 min) at the start: {header['load average']}\n"
        f"- machine: {machine}\n"
        f"- versions: {versions}"
    )


# ------------------------------------------------------------------------------------------ timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleave(
    candidates: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1, reverse_first: bool = False
) -> dict[str, list[float]]:
    """Seconds per run of each candidate, run side by side in alternating order.

    Round i runs the candidates in order when i is even and reversed when odd (A B, B A, ...), so a
    load that drifts during the measurement falls on both alike. ``warmup`` rounds are not recorded.
    ``reverse_first`` starts with the reversed order (for callers that interleave at a finer grain).
    """
    names = list(candidates)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(warmup + repeats):
        order = names if (i + reverse_first) % 2 == 0 else names[::-1]
        for name in order:
            seconds, _ = timed(candidates[name])
            if i >= warmup:
                times[name].append(seconds)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile, p in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios of two interleaved series (each round saw the same load)."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


# ------------------------------------------------------------------------------------------ output


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool | None) -> str:
    return "SKIPPED" if passed is None else ("PASS" if passed else "FAIL")


def skipped(name: str, target: str, reason: str) -> dict[str, Any]:
    """The result of a benchmark whose inputs are missing: says why, passes nothing."""
    print(f"[{name}] skipped: {reason}", file=sys.stderr)
    return {"name": name, "target": target, "passed": None, "table": f"Skipped: {reason}.", "details": {}}


def log(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)


def bundled_embedder():
    """The bundled all-MiniLM-L6-v2 through synthtune's own Embedder (default settings)."""
    from synthtune.config import EmbeddingSettings
    from synthtune.embed import Embedder

    return Embedder(EmbeddingSettings())
