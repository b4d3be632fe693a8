"""The Ray executor's overhead against the local executor on the same work: embedding passages with the
bundled all-MiniLM-L6-v2.

Local: one ``Embedder`` in this process (torch uses the machine's cores). Ray: a local Ray instance
with this machine's CPUs, ``workers`` actors with one CPU each, each holding the model once (loaded
before the clock starts, as a long stage amortises it); ``RayEmbedder.encode`` hands out batches of
``ray.batch_size`` passages round robin and gathers them in order. Both embed the same passages (the
chunk texts of the demo corpus and the earnings releases, or synthetic sentences when those are
absent), interleaved over several rounds; medians. The vectors must agree.
Target: Ray's wall time <= 1.15x local (overhead <= 15%).

    .venv/bin/python benchmarks/bench_ray.py [--passages N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np
from common import interleave, log, md_table, median, skipped

NAME = "ray"
TARGET = "Ray executor overhead <= 15% against the local executor on the same embedding work"
THRESHOLD = 1.15


def passages(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    words = [
        "revenue",
        "quarter",
        "million",
        "growth",
        "margin",
        "guidance",
        "segment",
        "cash",
        "operating",
        "income",
        "net",
        "sales",
    ]
    return [" ".join(rng.choice(words, size=int(rng.integers(60, 120)))) + f" ({i})" for i in range(n)]


def main(n_passages: int = 1000, repeats: int = 3) -> dict[str, Any]:
    try:
        import ray
    except ImportError:
        return skipped(NAME, TARGET, "ray not installed (pip install 'synthtune[ray]')")
    from synthtune.config import EmbeddingSettings, RaySettings
    from synthtune.embed import Embedder
    from synthtune.executor.ray_actors import RayEmbedder

    cpus = os.cpu_count() or 2
    texts = passages(n_passages)
    local = Embedder(EmbeddingSettings())
    local.encode(texts[:8])
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        rs = RaySettings(workers=cpus, cpus_per_worker=1, batch_size=64)
        remote = RayEmbedder(EmbeddingSettings(), rs)
        remote.encode(texts[:8])  # every actor's model is loaded before the clock starts
        for actor in remote.pool.actors:
            ray.get(actor.encode.remote(texts[:2]))
        out: dict[str, np.ndarray] = {}
        log(NAME, f"{n_passages} passages, {repeats} interleaved rounds local / Ray ({cpus} actors)")
        times = interleave(
            {
                "local": lambda: out.__setitem__("local", local.encode(texts)),
                "ray": lambda: out.__setitem__("ray", remote.encode(texts)),
            },
            repeats=repeats,
            warmup=0,
        )
        np.testing.assert_allclose(out["local"], out["ray"], atol=1e-4)
        per_worker = list(remote.pool.done_per_worker)
        remote.close()
    finally:
        ray.shutdown()
    local_t, ray_t = median(times["local"]), median(times["ray"])
    ratio = ray_t / local_t
    passed = ratio <= THRESHOLD
    rows = [
        [
            "local executor (1 process, torch on all cores)",
            f"{local_t:.2f}",
            f"{n_passages / local_t:.0f}",
            "",
        ],
        [f"ray executor ({cpus} actors x 1 CPU)", f"{ray_t:.2f}", f"{n_passages / ray_t:.0f}", ""],
        ["ray / local", f"{ratio:.3f}", "", "PASS" if passed else "FAIL"],
    ]
    table = md_table(["", "s", "passages/s", f"<= {THRESHOLD}x"], rows) + (
        f"\n\n{n_passages} passages of 60-120 words, medians of {repeats} interleaved rounds (local "
        f"{', '.join(f'{t:.2f}' for t in times['local'])} s; Ray {', '.join(f'{t:.2f}' for t in times['ray'])} "
        f"s); passages per actor over all rounds: {per_worker}. Vectors agree within 1e-4. Per-worker "
        f"throughput (for docs/cluster.md): {n_passages / ray_t / cpus:.0f} passages/s per 1-CPU actor."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"Ray / local = {ratio:.3f}",
        "table": table,
        "details": {"times_s": times, "passages": n_passages, "actors": cpus, "per_worker": per_worker},
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(main(a.passages, a.repeats)["details"], indent=1))
