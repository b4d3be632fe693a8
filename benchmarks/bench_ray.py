"""The Ray executor's overhead against the local executor on the same work: embedding passages with the
bundled all-MiniLM-L6-v2.

Local: one ``Embedder`` in this process (torch uses the machine's cores). Ray: a local Ray instance
with this machine's CPUs, ``workers`` actors with one CPU each, each holding the model once (loaded
before the clock starts, as a long stage amortises it); ``RayEmbedder.encode`` hands out batches of
``ray.batch_size`` passages round robin and gathers them in order. Both embed the same passages (the
chunk texts of the demo corpus and the earnings releases, or synthetic sentences when those are
absent), interleaved over several rounds; medians. The vectors must agree.
Target: Ray's wall time <= 1.15x local (overhead <= 15%).

Then generation against an OpenAI-compatible server: a real ``transformers serve`` of the bundled
SmolLM2-135M-Instruct with continuous batching (requests in flight are decoded together), the same
requests sent four ways, interleaved: from this process (``OpenAIBackend``) with 1 and with 8 requests
in flight, and through Ray (``RayBackend``) with one actor keeping 1 request in flight and with two
actors keeping 4 each (8 in all). Growth = requests/s at 8 over requests/s at 1, for each executor.
Target: Ray's growth >= 0.85x the local growth (it grows with concurrency as the local executor does).

    .venv/bin/python benchmarks/bench_ray.py [--passages N] [--repeats N] [--skip-server]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np
from common import REPO, interleave, log, md_table, median, skipped

NAME = "ray"
TARGET = (
    "Ray executor overhead <= 15% against the local executor on the same embedding work; with an "
    "OpenAI-compatible server, Ray's throughput grows from 1 to 8 requests in flight >= 0.85x as the "
    "local executor's does"
)
THRESHOLD = 1.15
MIN_COSINE = 0.9999
GROWTH_THRESHOLD = 0.85
SERVER_PROMPTS, SERVER_MAX_NEW_TOKENS, IN_FLIGHT = 24, 24, 8


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


def bench_server(repeats: int) -> dict[str, Any]:
    """Requests/s of the same requests from this process and through Ray, 1 and 8 in flight."""
    import sys

    import ray

    sys.path.insert(0, str(REPO / "tests"))
    from llm_server import TransformersServer

    from synthtune.config import BackendSettings, RaySettings
    from synthtune.executor.ray_actors import RayBackend
    from synthtune.llm.base import ChatRequest
    from synthtune.llm.bundled import resolve_generator
    from synthtune.llm.openai_backend import OpenAIBackend

    model = resolve_generator("bundled")
    requests = [
        ChatRequest([{"role": "user", "content": f"Write one sentence about quarter {i} of a robot maker."}])
        for i in range(SERVER_PROMPTS)
    ]
    per_actor = IN_FLIGHT // 2

    def backend(concurrency: int) -> BackendSettings:
        return BackendSettings(
            backend="openai", model=model, base_url=server.base_url, concurrency=concurrency,
            max_new_tokens=SERVER_MAX_NEW_TOKENS, timeout_s=600,
        )  # fmt: skip

    server = TransformersServer(model, threads=2, continuous_batching=True)
    outputs: dict[str, list] = {}
    with server:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        try:
            systems = {
                "local, 1 in flight": OpenAIBackend(backend(1)),
                f"local, {IN_FLIGHT} in flight": OpenAIBackend(backend(IN_FLIGHT)),
                "Ray, 1 actor x 1 in flight": RayBackend(
                    backend(1), RaySettings(workers=1, cpus_per_worker=0.5, batch_size=SERVER_PROMPTS)
                ),
                f"Ray, 2 actors x {per_actor} in flight": RayBackend(
                    backend(per_actor),
                    RaySettings(workers=2, cpus_per_worker=0.5, batch_size=SERVER_PROMPTS // 2),
                ),
            }

            def run(name: str):
                return lambda: outputs.__setitem__(name, systems[name].generate(requests))

            systems[f"local, {IN_FLIGHT} in flight"].generate(requests[:IN_FLIGHT])  # the server warms up
            log(NAME, f"server: {SERVER_PROMPTS} requests four ways, {repeats} interleaved rounds")
            times = interleave({name: run(name) for name in systems}, repeats=repeats, warmup=0)
            for b in systems.values():
                b.close()
        finally:
            ray.shutdown()
    names = list(times)
    failed = sum(c.outcome == "failed" for v in outputs.values() for c in v)
    rps = {n: sum(c.outcome != "failed" for c in outputs[n]) / median(times[n]) for n in names}
    local_growth = rps[names[1]] / rps[names[0]]
    ray_growth = rps[names[3]] / rps[names[2]]
    return {
        "names": names,
        "times_s": times,
        "requests_per_s": rps,
        "tokens_out": {n: sum(c.tokens_out for c in outputs[n]) for n in names},
        "failed": failed,
        "local_growth": local_growth,
        "ray_growth": ray_growth,
        "growth_ratio": ray_growth / local_growth,
    }


def main(n_passages: int = 1000, repeats: int = 3, server: bool = True) -> dict[str, Any]:
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
        # the same vectors up to the runtime's rounding (bfloat16 by default on an AMX CPU, where a
        # passage's vector moves in the 4th decimal with the batch it is encoded in)
        cosines = np.sum(out["local"] * out["ray"], axis=1)
        min_cosine = float(cosines.min())
        assert min_cosine >= MIN_COSINE, f"Ray's vectors differ from local ones: cosine {min_cosine:.6f}"
        per_worker = list(remote.pool.done_per_worker)
        remote.close()
    finally:
        ray.shutdown()
    local_t, ray_t = median(times["local"]), median(times["ray"])
    ratio = ray_t / local_t
    passed = ratio <= THRESHOLD
    srv = bench_server(max(2, repeats - 1)) if server else None
    if srv is not None:
        passed = passed and srv["growth_ratio"] >= GROWTH_THRESHOLD and srv["failed"] == 0
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
        f"s); passages per actor over all rounds: {per_worker}. Vectors agree: lowest cosine between a "
        f"passage's local and Ray vectors {min_cosine:.6f} (embedding runtime {local.runtime}). Per-worker "
        f"throughput (for docs/cluster.md): {n_passages / ray_t / cpus:.0f} passages/s per 1-CPU actor."
    )
    headline = f"Ray / local = {ratio:.3f}"
    if srv is not None:
        n = srv["names"]
        rows = [
            [name, f"{median(srv['times_s'][name]):.1f}", f"{srv['requests_per_s'][name]:.2f}",
             f"{srv['tokens_out'][name] / median(srv['times_s'][name]):.1f}"]
            for name in n
        ]  # fmt: skip
        rows += [
            ["growth, local (8 / 1 in flight)", f"{srv['local_growth']:.2f}x", "", ""],
            ["growth, Ray (8 / 1 in flight)", f"{srv['ray_growth']:.2f}x", "", ""],
            [f"Ray growth / local growth (>= {GROWTH_THRESHOLD})", f"{srv['growth_ratio']:.2f}", "",
             "PASS" if srv["growth_ratio"] >= GROWTH_THRESHOLD and srv["failed"] == 0 else "FAIL"],
        ]  # fmt: skip
        table += (
            "\n\nGeneration against an OpenAI-compatible server (`transformers serve`, continuous batching, "
            f"2 torch threads, on this machine): {SERVER_PROMPTS} requests of up to {SERVER_MAX_NEW_TOKENS} "
            f"new tokens, greedy, sent four ways; medians of {len(srv['times_s'][n[0]])} interleaved rounds "
            f"({srv['failed']} failed requests).\n\n"
            + md_table(["", "s", "requests/s", "output tokens/s"], rows)
        )
        headline += f"; server growth 1 -> 8 in flight: Ray {srv['ray_growth']:.2f}x, local {srv['local_growth']:.2f}x"
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": headline,
        "table": table,
        "details": {
            "times_s": times, "passages": n_passages, "actors": cpus, "per_worker": per_worker,
            "min_cosine": min_cosine, "server": srv,
        },
    }  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-server", action="store_true", help="only the embedding comparison")
    a = ap.parse_args()
    print(json.dumps(main(a.passages, a.repeats, server=not a.skip_server)["details"], indent=1, default=str))
