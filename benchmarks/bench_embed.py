"""Embedding throughput: synthtune's ``Embedder.encode`` (torch, torch-bf16, onnx, onnx-int8) vs ``SentenceTransformer.encode``.

Both run the same loaded model (the bundled all-MiniLM-L6-v2), the same batch size and the same
texts: 512 passages as ingest builds them (contextual header + chunk text), taken evenly from the
chunks of the earnings releases when ../shared/data is there, else from the demo corpus. The direct
call asks for normalised float32 vectors, as synthtune does, and the two outputs are checked equal.
Each round embeds all the texts on both sides, in slices that alternate between the two, so a load
that changes during the run falls on both alike (this machine is shared).
Target: synthtune at least 0.95x the direct call's texts/s. The ONNX runtimes of the same model run on
the same slices in the same rounds, and so does torch-bf16 (the same model under torch's bfloat16
autocast, the default on a CPU with AMX); target: one of torch-bf16 and onnx-int8 at least 2x the
direct call, with recall@5 and MRR of dense search on a retrieval set used to tune nothing (TAT-QA's
text questions) within one point of torch's.

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
    SHARED_DATA,
    interleave,
    log,
    md_table,
    median,
    skipped,
)

NAME = "embed"
TARGET = (
    "Embedder.encode (torch) >= 0.95x SentenceTransformer.encode; a faster runtime (torch-bf16 or "
    "onnx-int8) >= 2x it, with recall@5 and MRR on TAT-QA text questions within 1 point of torch"
)
THRESHOLD = 0.95
SPEEDUP = 2.0
MAX_DROP = 0.01  # recall@5 and MRR, as fractions
RUNTIMES = ("torch-bf16", "onnx", "onnx-int8")
FAST = ("torch-bf16", "onnx-int8")  # the runtimes the 2x target is for
TATQA = SHARED_DATA / "tatqa" / "tatqa_dataset_dev.json"


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
    from synthtune.config import EmbeddingSettings
    from synthtune.embed import Embedder, cpu_has_amx, resolve_runtime

    embedder = Embedder(EmbeddingSettings(runtime="torch"))  # the torch side, whatever the default is
    if not DEMO_DOCS.is_dir() and not EARNINGS.is_dir():
        return skipped(NAME, TARGET, "neither examples/acme/docs nor ../shared/data/earnings_releases exists")
    texts, source = corpus_passages(embedder, n_texts)
    model = embedder.model  # one loaded SentenceTransformer, shared by both torch sides
    batch_size = embedder.settings.batch_size
    n_tokens = [len(ids) for ids in embedder.tokenizer(texts, add_special_tokens=True)["input_ids"]]
    others = {rt: Embedder(EmbeddingSettings(runtime=rt)) for rt in RUNTIMES}

    def direct(part: list[str]) -> np.ndarray:
        return model.encode(
            part,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    sides: dict[str, Any] = {"direct": direct, "synthtune": embedder.encode}
    sides.update({rt: e.encode for rt, e in others.items()})

    warm = texts[: 2 * batch_size]
    outputs = {name: fn(warm) for name, fn in sides.items()}  # warm-up (and ONNX export on first use)
    a, b = outputs["direct"], outputs["synthtune"]
    max_diff = float(np.abs(a - b).max())
    if a.shape != b.shape or max_diff > 1e-5:
        raise RuntimeError(
            f"the two calls disagree (shapes {a.shape} vs {b.shape}, max |diff| {max_diff:.2e})"
        )
    full = {rt: others[rt].encode(texts) for rt in RUNTIMES}
    reference = direct(texts)
    cosine = {rt: (full[rt] * reference).sum(axis=1) for rt in RUNTIMES}

    # Interleaved finely: every round embeds all the texts on every side, slice by slice, alternating
    # the order, so a load that changes within a round falls on all sides alike.
    size = -(-len(texts) // slices)
    parts = [texts[i : i + size] for i in range(0, len(texts), size)]
    log(
        NAME,
        f"{len(texts)} passages from {source}, batch {batch_size}; {repeats} rounds of {len(parts)} slices",
    )
    totals = {name: [0.0] * repeats for name in sides}
    slice_times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(repeats):
        for j, part in enumerate(parts):
            got = interleave(
                {name: (lambda fn=fn, p=part: fn(p)) for name, fn in sides.items()},
                repeats=1,
                warmup=0,
                reverse_first=(r * len(parts) + j) % 2 == 1,
            )
            for name in sides:
                slice_times[name].append(got[name][0])
                totals[name][r] += got[name][0]
    ratio = {name: sum(slice_times["direct"]) / sum(slice_times[name]) for name in sides}
    quality = retrieval_quality({"torch": embedder, **others})
    rows = [
        [
            label,
            f"{median(totals[name]):.1f}",
            f"{len(texts) / median(totals[name]):.1f}",
            f"{ratio[name]:.2f}x",
            "1 (same)"
            if name in ("direct", "synthtune")
            else f"{cosine[name].min():.4f} / {cosine[name].mean():.4f}",
        ]
        for name, label in (
            ("direct", "SentenceTransformer.encode (direct)"),
            ("synthtune", "synthtune Embedder.encode, runtime torch (float32)"),
            ("torch-bf16", "runtime torch-bf16 (bfloat16 autocast)"),
            ("onnx", "runtime onnx (fp32)"),
            ("onnx-int8", "runtime onnx-int8 (per-channel dynamic quantization)"),
        )
    ]
    q_rows = (
        [
            [
                rt,
                f"{m['recall@5']:.3f}",
                f"{m['mrr']:.3f}",
                f"{(m['recall@5'] - quality['torch']['recall@5']) * 100:+.1f}",
                f"{(m['mrr'] - quality['torch']['mrr']) * 100:+.1f}",
            ]
            for rt, m in quality.items()
            if rt != "meta"
        ]
        if quality
        else []
    )
    holds = {
        rt: bool(quality)
        and quality["torch"]["recall@5"] - quality[rt]["recall@5"] <= MAX_DROP
        and quality["torch"]["mrr"] - quality[rt]["mrr"] <= MAX_DROP
        for rt in RUNTIMES
    }
    meets = {rt: ratio[rt] >= SPEEDUP and holds[rt] for rt in FAST}
    passed = ratio["synthtune"] >= THRESHOLD and any(meets.values())
    table = md_table(["", "median s per pass", "texts/s", "vs direct", "cosine to torch (min / mean)"], rows)
    table += (
        f"\n\n{len(texts)} passages from the {source}, {np.mean(n_tokens):.0f} tokens on average "
        f"(max {max(n_tokens)}), batch size {batch_size}, normalised float32, torch threads "
        f"{_torch_threads()}; {repeats} rounds, each embedding all texts on every side in {len(parts)} "
        f"interleaved slices of {size}; ratio = total direct time / total time of the side. Torch outputs "
        f"equal (max |diff| {max_diff:.1e}). The CPU is shared with other work: compare the ratios."
    )
    if quality:
        meta = quality["meta"]
        table += "\n\n" + md_table(
            ["runtime", "recall@5", "MRR@10", "recall@5 change (points)", "MRR change (points)"], q_rows
        )
        table += (
            f"\n\nRetrieval set not used to tune anything: TAT-QA dev (../shared/data/tatqa), the "
            f"{meta['questions']} questions answered from text, over all {meta['passages']} paragraphs of its "
            f"{meta['contexts']} report contexts; a hit is a paragraph the question names as its source; dense "
            f"search only (the embedder is what changes)."
        )
    table += (
        f"\n\nTargets: torch wrapper >= {THRESHOLD}x direct: **{ratio['synthtune']:.2f}x**; a faster runtime "
        f">= {SPEEDUP:g}x direct with quality within {MAX_DROP * 100:g} point: "
        + "; ".join(
            f"{rt} **{ratio[rt]:.2f}x**, quality {'holds' if holds[rt] else 'does not hold'}"
            for rt in RUNTIMES
        )
        + f". This CPU {'has' if cpu_has_amx() else 'lacks'} AMX tiles (bfloat16 matrix products in "
        f"hardware), so `embedding.runtime: auto` runs {resolve_runtime(EmbeddingSettings())} here."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"torch-bf16 {ratio['torch-bf16']:.2f}x, onnx-int8 {ratio['onnx-int8']:.2f}x, onnx "
        f"{ratio['onnx']:.2f}x, torch wrapper {ratio['synthtune']:.3f}x",
        "table": table,
        "details": {
            "source": source,
            "texts": len(texts),
            "mean_tokens": round(float(np.mean(n_tokens)), 1),
            "batch_size": batch_size,
            "ratio": {k: round(v, 4) for k, v in ratio.items()},
            "pass_s": {k: [round(t, 3) for t in v] for k, v in totals.items()},
            "cosine_min": {rt: round(float(cosine[rt].min()), 5) for rt in RUNTIMES},
            "cosine_mean": {rt: round(float(cosine[rt].mean()), 5) for rt in RUNTIMES},
            "retrieval": quality,
            "quality_holds": holds,
            "cpu_has_amx": cpu_has_amx(),
            "max_abs_diff": max_diff,
        },
    }


def retrieval_quality(embedders: dict[str, Any]) -> dict[str, Any]:
    """recall@5 and MRR@10 of dense search with each embedder on TAT-QA's text questions ({} when the
    data is absent)."""
    if not TATQA.exists():
        return {}
    contexts = json.loads(TATQA.read_text(encoding="utf-8"))
    passages: list[str] = []
    questions: list[tuple[str, set[int]]] = []
    for c in contexts:
        index = {}
        for p in sorted(c["paragraphs"], key=lambda p: p["order"]):
            index[str(p["order"])] = len(passages)
            passages.append(p["text"])
        for q in c["questions"]:
            if q["answer_from"] == "text" and q.get("rel_paragraphs"):
                questions.append((q["question"], {index[r] for r in q["rel_paragraphs"] if r in index}))
    out: dict[str, Any] = {
        "meta": {"contexts": len(contexts), "passages": len(passages), "questions": len(questions)}
    }
    for name, emb in embedders.items():
        log(NAME, f"retrieval quality: {name}")
        docs = emb.encode([emb.passage_text(p) for p in passages])
        queries = emb.encode([f"{emb.query_prefix}{q}" for q, _ in questions])
        top = np.argsort(-(queries @ docs.T), axis=1)[:, :10]
        ranks = [
            next((i + 1 for i, d in enumerate(row) if d in gold), None)
            for row, (_, gold) in zip(top, questions, strict=True)
        ]
        out[name] = {
            "recall@5": sum(r is not None and r <= 5 for r in ranks) / len(ranks),
            "mrr": sum(1 / r for r in ranks if r is not None) / len(ranks),
        }
    return out


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
