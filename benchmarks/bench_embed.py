"""Embedding throughput: synthtune's ``Embedder.encode`` vs ``SentenceTransformer.encode`` called directly.

Both run the same loaded model (the bundled all-MiniLM-L6-v2), the same batch size and the same
texts: 512 passages as ingest builds them (contextual header + chunk text), taken evenly from the
chunks of the earnings releases when ../shared/data is there, else from the demo corpus. The direct
call asks for normalised float32 vectors, as synthtune does, and the two outputs are checked equal.
Each round embeds all the texts on both sides, in slices that alternate between the two, so a load
that changes during the run falls on both alike (this machine is shared).
Target: synthtune at least 0.95x the direct call's texts/s.

    .venv/bin/python benchmarks/bench_embed.py [--repeats N] [--texts N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DEMO_DOCS,
    EARNINGS,
    bundled_embedder,
    interleave,
    log,
    md_table,
    median,
    skipped,
)

NAME = "embed"
TARGET = "Embedder.encode texts/s >= 0.95x SentenceTransformer.encode (same model, batch size, texts)"
THRESHOLD = 0.95


def corpus_passages(embedder, n: int) -> tuple[list[str], str]:
    """``n`` passages as ingest embeds them, spread evenly over the corpus; and the corpus's name."""
    from synthtune.config import Settings
    from synthtune.ingest.chunking import chunk_document
    from synthtune.ingest.loaders import load_document

    if EARNINGS.is_dir() and any(EARNINGS.glob("*.pdf")):
        files, source = sorted(EARNINGS.glob("*.pdf")), "earnings releases (../shared/data)"
    else:
        files, source = sorted(p for p in DEMO_DOCS.iterdir() if p.is_file()), "demo corpus (examples/acme)"
    s = Settings()
    passages: list[str] = []
    for path in files:
        doc = load_document(Path(path))
        for c in chunk_document(
            doc,
            embedder.tokenizer,
            size=s.ingest.chunk_size,
            overlap=s.ingest.chunk_overlap,
            max_tokens=embedder.max_seq_length,
            with_header=s.embedding.contextual_header,
        ):
            passages.append(embedder.passage_text(c.text, c.header))
    if not passages:
        raise RuntimeError(f"no chunks in {source}")
    if len(passages) >= n:
        step = len(passages) / n
        return [passages[int(i * step)] for i in range(n)], source
    return [passages[i % len(passages)] for i in range(n)], source  # a small corpus: repeat it


def main(repeats: int = 2, n_texts: int = 512, slices: int = 4) -> dict[str, Any]:
    embedder = bundled_embedder()
    if not DEMO_DOCS.is_dir() and not EARNINGS.is_dir():
        return skipped(NAME, TARGET, "neither examples/acme/docs nor ../shared/data/earnings_releases exists")
    texts, source = corpus_passages(embedder, n_texts)
    model = embedder.model  # one loaded SentenceTransformer, shared by both sides
    batch_size = embedder.settings.batch_size
    n_tokens = [len(ids) for ids in embedder.tokenizer(texts, add_special_tokens=True)["input_ids"]]

    def direct(part: list[str]) -> np.ndarray:
        return model.encode(
            part,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def synthtune(part: list[str]) -> np.ndarray:
        return embedder.encode(part)

    warm = texts[: 2 * batch_size]
    a, b = direct(warm), synthtune(warm)  # warm-up, and a check that both compute the same vectors
    max_diff = float(np.abs(a - b).max())
    if a.shape != b.shape or max_diff > 1e-5:
        raise RuntimeError(
            f"the two calls disagree (shapes {a.shape} vs {b.shape}, max |diff| {max_diff:.2e})"
        )

    # Interleaved finely: every round embeds all the texts on both sides, slice by slice, alternating
    # which side goes first, so a load that changes within a round falls on both sides alike.
    size = -(-len(texts) // slices)
    parts = [texts[i : i + size] for i in range(0, len(texts), size)]
    log(
        NAME,
        f"{len(texts)} passages from {source}, batch {batch_size}; {repeats} rounds of {len(parts)} slices",
    )
    pairs: list[tuple[float, float]] = []
    rounds = {"direct": [0.0] * repeats, "synthtune": [0.0] * repeats}
    for r in range(repeats):
        for j, part in enumerate(parts):
            sides = interleave(
                {"direct": lambda p=part: direct(p), "synthtune": lambda p=part: synthtune(p)},
                repeats=1,
                warmup=0,
                reverse_first=(r * len(parts) + j) % 2 == 1,
            )
            pairs.append((sides["direct"][0], sides["synthtune"][0]))
            rounds["direct"][r] += sides["direct"][0]
            rounds["synthtune"][r] += sides["synthtune"][0]
    base_t, syn_t = median(rounds["direct"]), median(rounds["synthtune"])
    ratio = sum(d for d, _ in pairs) / sum(s for _, s in pairs)
    per_pair = [d / s for d, s in pairs]
    passed = ratio >= THRESHOLD
    rows = [
        ["SentenceTransformer.encode (direct)", f"{base_t:.1f}", f"{len(texts) / base_t:.1f}", "1.00x"],
        ["synthtune Embedder.encode", f"{syn_t:.1f}", f"{len(texts) / syn_t:.1f}", f"{ratio:.3f}x"],
    ]
    table = md_table(["", "median s per pass", "texts/s", "vs direct"], rows) + (
        f"\n\n{len(texts)} passages from the {source}, {np.mean(n_tokens):.0f} tokens on average "
        f"(max {max(n_tokens)}), batch size {batch_size}, normalised float32, torch threads "
        f"{_torch_threads()}; {repeats} rounds, each embedding all texts on both sides in {len(parts)} "
        f"interleaved slices of {size}; ratio = total direct time / total synthtune time; per-slice ratios: "
        f"{', '.join(f'{x:.3f}' for x in per_pair)} (median {median(per_pair):.3f}). Outputs equal "
        f"(max |diff| {max_diff:.1e}). Target >= {THRESHOLD}x: **{ratio:.3f}x**."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"{ratio:.3f}x ({len(texts) / syn_t:.1f} vs {len(texts) / base_t:.1f} texts/s)",
        "table": table,
        "details": {
            "source": source,
            "texts": len(texts),
            "mean_tokens": round(float(np.mean(n_tokens)), 1),
            "batch_size": batch_size,
            "ratio": round(ratio, 4),
            "direct_pass_s": [round(t, 3) for t in rounds["direct"]],
            "synthtune_pass_s": [round(t, 3) for t in rounds["synthtune"]],
            "per_slice_ratio": [round(x, 4) for x in per_pair],
            "max_abs_diff": max_diff,
        },
    }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds (each embeds every text on both sides)"
    )
    parser.add_argument("--texts", type=int, default=512, help="passages embedded per round and side")
    parser.add_argument("--slices", type=int, default=4, help="interleaved slices per round")
    args = parser.parse_args()
    result = main(args.repeats, args.texts, args.slices)
    print(result["table"])
    print(json.dumps(result["details"], indent=1))
