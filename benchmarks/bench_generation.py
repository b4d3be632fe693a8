"""Generation throughput: batching in process, and concurrency against an OpenAI-compatible server.

1. In process (``TransformersBackend``): the bundled SmolLM2-135M-Instruct, the same 32 prompts, one
   prompt at a time (batch size 1) vs batch size 16; greedy, synthtune's default decoding (repetition
   penalty 1.3). Output tokens/s of each and their ratio. Target: batched >= 4x.
2. Over HTTP (``OpenAIBackend``) against a local ``transformers serve`` of the same model: sequential
   requests (concurrency 1) vs concurrency 8, requests/s and output tokens/s. Target: >= 3x. Measured
   for each server variant ``mode:threads``: the default server (one inference thread: concurrent
   requests queue and run one by one) and ``--continuous-batching`` (requests in flight are decoded
   together), at 2 and 1 torch threads.

Both sides of each comparison run in alternating order (A B, B A, ...) on the same loaded model, and
their outputs are compared (greedy: batching must not change the text).

    .venv/bin/python benchmarks/bench_generation.py [--repeats N] [--skip-in-process] [--skip-server]
        [--server-variants default:2,cb:2,cb:1] [--cb-args "..."]   (--help for the rest)
"""

from __future__ import annotations

import os
import sys

# OpenMP reads this when torch loads: setting it here only works if torch is not loaded yet
OMP_POLICY_IN_EFFECT = "torch" not in sys.modules or "OMP_WAIT_POLICY" in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
from typing import Any  # noqa: E402

from common import REPO, interleave, load_average, log, md_table, median, paired_ratios, verdict  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))

NAME = "generation"
TARGET = (
    "in process: batch 16 >= 4x the output tokens/s of one prompt at a time; "
    "OpenAI-compatible backend: concurrency >= 3x the throughput of sequential requests (same server)"
)
BATCH_TARGET = 4.0
CONCURRENCY_TARGET = 3.0

FACTS = [
    "Acme's revenue rose 12% to $5.1 billion in the third quarter of 2025.",
    "Gross margin was 41.3%, down from 43.0% a year earlier, on higher freight costs.",
    "The company repurchased 2.4 million shares for $310 million during the quarter.",
    "Operating cash flow was $820 million and free cash flow $540 million.",
    "The board declared a quarterly dividend of $0.45 per share, payable on December 1.",
    "Net income fell to $402 million, or $1.87 per diluted share, from $455 million.",
    "Inventory increased 9% as the company built stock ahead of the holiday season.",
    "The Industrial segment grew 18%, while Consumer sales declined 3%.",
    "Full-year guidance for earnings per share was raised to a range of $7.40 to $7.60.",
    "Research and development spending reached $290 million, 5.7% of revenue.",
    "The company closed its acquisition of Beta Sensors for $1.2 billion in cash.",
    "Long-term debt stood at $3.9 billion at the end of the quarter.",
    "Revenue in Europe rose 6% in constant currency and 2% as reported.",
    "Headcount was 18,400, up from 17,900 at the start of the year.",
    "Capital expenditures were $210 million, mainly for the new plant in Ohio.",
    "The effective tax rate was 21.5% compared with 19.8% in the prior-year quarter.",
]
INSTRUCTIONS = [
    "Write one question that this sentence answers.\n\n{fact}",
    "Read the passage and state its key number in one short sentence.\n\nPassage: {fact}",
]


def prompts(n: int) -> list[list[dict]]:
    texts = [i.format(fact=f) for i in INSTRUCTIONS for f in FACTS]
    return [[{"role": "user", "content": texts[k % len(texts)]}] for k in range(n)]


def _requests(n: int):
    from synthtune.llm.base import ChatRequest

    return [ChatRequest(messages=m) for m in prompts(n)]


# ----------------------------------------------------------------------------------------- in process


def bench_in_process(n_prompts: int, max_new_tokens: int, batch_size: int, repeats: int) -> dict[str, Any]:
    import torch

    from synthtune.config import BackendSettings
    from synthtune.llm.transformers_backend import TransformersBackend

    backend = TransformersBackend(BackendSettings(max_new_tokens=max_new_tokens, batch_size=batch_size))
    requests = _requests(n_prompts)
    outputs: dict[str, list] = {}

    def run(size: int, label: str):
        def go():
            backend.settings.batch_size = size
            outputs[label] = backend.generate(requests)

        return go

    backend.settings.batch_size = batch_size
    backend.generate(requests[:2])  # warm-up
    log(NAME, f"in process: {n_prompts} prompts, max_new_tokens {max_new_tokens}, {repeats} rounds")
    times = interleave({"single": run(1, "single"), "batched": run(batch_size, "batched")}, repeats, warmup=0)
    tokens = {k: sum(c.tokens_out for c in v) for k, v in outputs.items()}
    same = sum(a.text == b.text for a, b in zip(outputs["single"], outputs["batched"], strict=True))
    tps = {k: tokens[k] / median(times[k]) for k in times}
    ratio = tps["batched"] / tps["single"]
    per_round = [
        (tokens["batched"] / b) / (tokens["single"] / a)
        for a, b in zip(times["single"], times["batched"], strict=True)
    ]
    backend.close()
    return {
        "passed": ratio >= BATCH_TARGET,
        "ratio": round(ratio, 2),
        "per_round_ratio": [round(r, 2) for r in per_round],
        "prompts": n_prompts,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "tokens_out": tokens,
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "identical_outputs": f"{same}/{n_prompts}",
        "torch_threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------------------------------- server


def bench_server(
    n_prompts: int,
    max_new_tokens: int,
    concurrency: int,
    repeats: int,
    continuous_batching: bool,
    threads: int,
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    from llm_server import TransformersServer

    from synthtune.config import BackendSettings
    from synthtune.llm.bundled import resolve_generator
    from synthtune.llm.openai_backend import OpenAIBackend

    model = resolve_generator("bundled")
    requests = _requests(n_prompts)
    outputs: dict[str, list] = {}
    server = TransformersServer(
        model, threads=threads, continuous_batching=continuous_batching, extra_args=extra_args
    )
    with server:
        backends = {
            label: OpenAIBackend(
                BackendSettings(
                    backend="openai",
                    model=model,
                    base_url=server.base_url,
                    max_new_tokens=max_new_tokens,
                    concurrency=c,
                    timeout_s=600,
                )
            )
            for label, c in (("sequential", 1), ("concurrent", concurrency))
        }

        def run(label: str):
            def go():
                outputs[label] = backends[label].generate(requests)

            return go

        backends["concurrent"].generate(requests[: min(concurrency, n_prompts)])  # warm-up (CB starts here)
        mode = "continuous batching" if continuous_batching else "default"
        log(NAME, f"server ({mode}): {n_prompts} requests, concurrency {concurrency}, {repeats} rounds")
        times = interleave(
            {"sequential": run("sequential"), "concurrent": run("concurrent")}, repeats, warmup=0
        )
        for b in backends.values():
            b.close()
        peak_rss = server.peak_rss_mb()
        alive = server.process is not None and server.process.poll() is None
        log_tail = "" if alive else server.log_tail(5)
    failed = sum(c.outcome == "failed" for v in outputs.values() for c in v)
    tokens = {k: sum(c.tokens_out for c in v) for k, v in outputs.items()}
    same = sum(a.text == b.text for a, b in zip(outputs["sequential"], outputs["concurrent"], strict=True))
    ok = {k: sum(c.outcome != "failed" for c in v) for k, v in outputs.items()}
    rps = {k: ok[k] / median(times[k]) for k in times}  # answered requests only
    tps = {k: tokens[k] / median(times[k]) for k in times}
    ratio = rps["concurrent"] / rps["sequential"]
    return {
        "passed": ratio >= CONCURRENCY_TARGET and failed == 0,
        "continuous_batching": continuous_batching,
        "ratio": round(ratio, 2),
        "per_round_ratio": [round(r, 2) for r in paired_ratios(times["sequential"], times["concurrent"])],
        "requests": n_prompts,
        "concurrency": concurrency,
        "max_new_tokens": max_new_tokens,
        "server_threads": threads,
        "server_args": extra_args or [],
        "server_peak_rss_mb": round(peak_rss) if peak_rss else None,
        "server_alive_at_end": alive,
        "server_log_tail": log_tail,
        "failed": failed,
        "tokens_out": tokens,
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "requests_per_s": {k: round(v, 3) for k, v in rps.items()},
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "identical_outputs": f"{same}/{n_prompts}",
    }


# --------------------------------------------------------------------------------------------- main


def main(
    repeats: int = 1,
    n_prompts: int = 32,
    max_new_tokens: int = 48,
    batch_size: int = 16,
    concurrency: int = 8,
    server_prompts: int = 32,
    server_max_new_tokens: int = 32,
    server_variants: tuple[str, ...] = ("default:2", "cb:2", "cb:1"),
    cb_args: str = "--cb-block-size 16 --cb-num-blocks 512 --cb-max-batch-tokens 1024",
    in_process: bool = True,
    server: bool = True,
) -> dict[str, Any]:
    """Run the comparisons; ``server_variants`` are ``mode:threads`` with mode ``default`` or ``cb``
    (``--continuous-batching``). The concurrency verdict is that of the ``cb`` variant with the most
    requests/s at full concurrency."""
    load_before = load_average()
    policy = os.environ.get("OMP_WAIT_POLICY") if OMP_POLICY_IN_EFFECT else "default (torch loaded first)"
    details: dict[str, Any] = {"omp_wait_policy": policy, "servers": []}
    rows = []
    if in_process:
        r = details["in_process"] = bench_in_process(n_prompts, max_new_tokens, batch_size, repeats)
        rows.append(
            ["in process, 1 prompt at a time", "-", f"{r['tokens_per_s']['single']:.1f}", "1.00x", ""]
        )
        rows.append(
            [
                f"in process, batch {batch_size}",
                "-",
                f"{r['tokens_per_s']['batched']:.1f}",
                f"**{r['ratio']:.2f}x**",
                f"{verdict(r['passed'])} (>= {BATCH_TARGET:g}x); identical outputs {r['identical_outputs']}",
            ]
        )
    for variant in server_variants if server else ():
        mode, threads = variant.split(":")
        cb = mode == "cb"
        extra = cb_args.split() if cb else []
        r = bench_server(server_prompts, server_max_new_tokens, concurrency, repeats, cb, int(threads), extra)
        details["servers"].append(r)
    # the verdict is the continuous-batching server that answers concurrent requests fastest: the
    # configuration one would run (a slow sequential baseline must not buy a ratio)
    candidates = [r for r in details["servers"] if r["continuous_batching"]]
    best = max(candidates, key=lambda r: r["requests_per_s"]["concurrent"], default=None)
    gate = best["passed"] if best is not None else None
    for r in details["servers"]:
        cb = r["continuous_batching"]
        label = (
            f"{'serve --continuous-batching' if cb else 'serve (default)'}, {r['server_threads']} thread(s)"
        )
        rps, tps = r["requests_per_s"], r["tokens_per_s"]
        rows.append(
            [f"{label}, sequential", f"{rps['sequential']:.3f}", f"{tps['sequential']:.1f}", "1.00x", ""]
        )
        rows.append(
            [
                f"{label}, concurrency {concurrency}",
                f"{rps['concurrent']:.3f}",
                f"{tps['concurrent']:.1f}",
                f"**{r['ratio']:.2f}x**",
                (f"{verdict(r['passed'])} (>= {CONCURRENCY_TARGET:g}x); " if r is best else "")
                + f"identical outputs {r['identical_outputs']}; failed {r['failed']}; "
                f"server peak RSS {r['server_peak_rss_mb']} MiB",
            ]
        )
    checks = [p for p in (details.get("in_process", {}).get("passed"), gate) if p is not None]
    passed = all(checks) if checks else None
    table = md_table(["", "requests/s", "output tokens/s", "ratio", "verdict"], rows) + (
        "\n\nBundled SmolLM2-135M-Instruct (float32); prompts are an instruction and one fact from an "
        "earnings release (about 70 prompt tokens with the template's system prompt); greedy. In process: "
        f"{n_prompts} prompts, max_new_tokens {max_new_tokens}, repetition penalty 1.3, continuous batching "
        f"in synthtune's decode loop. Server: `transformers serve` on 127.0.0.1, {server_prompts} requests "
        f"through synthtune's OpenAI backend, max_new_tokens {server_max_new_tokens}, no repetition penalty "
        "(the server applies none). The default server runs one generate() at a time on a single inference "
        "thread, so concurrent requests only queue; --continuous-batching decodes the requests in flight "
        f"together; the cb variants run with `{cb_args}`: 16-token blocks let requests share the cached KV "
        "of their common prompt prefix (the default 256-token pages never fill with prompts this short), "
        "and a bounded KV cache and batch (left to itself on a CPU, the server sized its cache from free "
        "RAM, reached 13.7 GB and was killed by the OOM killer). The "
        "concurrency verdict is that of the continuous-batching server with the most requests/s at full "
        "concurrency (the one to run). Batching speeds up decoding only: "
        "prompt prefill costs the same either way, which caps both ratios on a CPU. "
        f"Median of {repeats} interleaved round(s). OMP_WAIT_POLICY in process: {policy}, servers: PASSIVE; "
        "on a shared CPU, OpenMP's default busy-waiting makes 2-thread torch several times slower whenever "
        f"another process runs. Load average (1/5/15 min) at the start: {load_before}; at the end: "
        f"{load_average()}."
    )
    return {"name": NAME, "target": TARGET, "passed": passed, "table": table, "details": details}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds per comparison")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per run (in process)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="most tokens per reply (in process)")
    parser.add_argument("--batch-size", type=int, default=16, help="in-process batch size")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (server)")
    parser.add_argument("--server-prompts", type=int, default=32, help="requests per run (server)")
    parser.add_argument(
        "--server-max-new-tokens", type=int, default=32, help="most tokens per reply (server)"
    )
    parser.add_argument(
        "--server-variants",
        default="default:2,cb:2,cb:1",
        help="comma-separated mode:threads, mode 'default' or 'cb' (--continuous-batching)",
    )
    parser.add_argument(
        "--cb-args",
        default="--cb-block-size 16 --cb-num-blocks 512 --cb-max-batch-tokens 1024",
        help="transformers serve arguments for the cb variants (bounded KV cache, small blocks)",
    )
    parser.add_argument("--skip-in-process", action="store_true", help="skip the in-process comparison")
    parser.add_argument("--skip-server", action="store_true", help="skip the transformers serve comparison")
    args = parser.parse_args()
    result = main(
        repeats=args.repeats,
        n_prompts=args.prompts,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        server_prompts=args.server_prompts,
        server_max_new_tokens=args.server_max_new_tokens,
        server_variants=tuple(args.server_variants.split(",")),
        cb_args=args.cb_args,
        in_process=not args.skip_in_process,
        server=not args.skip_server,
    )
    print(result["table"])
    print(json.dumps({k: v for k, v in result.items() if k != "table"}))
