"""LoRA training throughput on this CPU: length-grouped batches vs a padded, random-order baseline.

Data: 128 question-answer conversations made from earnings-report sentences (a passage, a question, an
answer), their lengths in SmolLM2 tokens drawn uniformly from 40-400 with a fixed seed (with its system
prompt a conversation is never shorter than about 55). Model: the bundled SmolLM2-135M-Instruct with
the default LoRA settings (all-linear, r 16, float32 on the CPU), batch size 8, the first 4 optimizer
steps of an epoch (32 rows), no evaluation or checkpoints. The two runs differ only in
``group_by_length``: the baseline's batches are random rows padded to their longest; the grouped
batches are drawn from the whole 128-row dataset sorted into similar lengths, in random order.

Throughput counts real (non-pad) tokens per second of training, and per CPU-second of the training
process (which other load on a shared machine does not inflate or deflate; the verdict needs both
ratios >= 1.3). Each run is its own process, so its peak resident memory (ru_maxrss, model load
included) is its own. With --rounds N the runs alternate
(baseline, grouped, grouped, baseline, ...) so a load that drifts falls on both alike, and the ratio
is the median of the per-round ratios. Target: grouped >= 1.3x baseline.

A second comparison, with no target, measures ``train.cache_frozen_layers``: adapters in the top 15 of
the model's 30 layers, the same 128 rows, one epoch (16 steps) and 6 more; the median time of the
second epoch's steps 18-22 (where the kept outputs of the bottom 15 layers are used) with the cache on
and off, and the last step's loss of both (which must agree).

The size is what a 2-core CPU trains in about 5 minutes when otherwise idle (a 135M model in float32
trains at tens of tokens per second there); under load it takes proportionally longer.

    .venv/bin/python benchmarks/bench_training.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from typing import Any

from common import log, md_table, median

NAME = "training"
TARGET = "LoRA real tokens/s (and per CPU-second) with length-grouped batches >= 1.3x a padded random-order baseline"
THRESHOLD = 1.3
N_ROWS, MIN_LEN, MAX_LEN, SEED = 128, 40, 400, 1234
BATCH, STEPS = 8, 4
FROZEN_TOP, FROZEN_EXTRA = 15, 10

COMPANIES = ["Acme Industrial", "Northwind Foods", "Globex Energy", "Initech Software", "Umbrella Health",
             "Vandelay Imports", "Stark Materials", "Wayne Logistics"]  # fmt: skip
METRICS = ["revenue", "operating income", "gross margin", "free cash flow", "net income", "backlog",
           "capital expenditure", "diluted earnings per share"]  # fmt: skip
SENTENCES = [
    "{c} reported {m} of ${v}.{d} million for the quarter, up {p}% from a year earlier.",
    "Management attributed the change in {m} to pricing actions and a favourable product mix.",
    "The company reaffirmed its full-year outlook and expects {m} growth of {p} to {q} percent.",
    "Segment results were mixed: the industrial segment grew {p}% while consumer sales declined.",
    "Cash and equivalents ended the period at ${v}.{d} million, with no borrowings under the revolver.",
    "Restructuring charges of ${d}.{p} million were recorded, mainly for the closure of two plants.",
    "On the call, the chief financial officer said input costs eased during the second half.",
    "The board declared a quarterly dividend of {d} cents per share, payable next month.",
    "Foreign exchange reduced reported {m} by about {d} percentage points.",
    "Inventory days fell to {v} as supply chains normalised and safety stock was released.",
    "The order book for the next two quarters stands at ${v}.{d} billion, a record for the company.",
    "Analysts asked about the timing of the new facility, which management expects to open in {y}.",
]


def make_rows(tokenizer: Any) -> tuple[list[dict], list[int]]:
    """N_ROWS conversations whose token lengths are drawn from MIN_LEN-MAX_LEN (fixed seed)."""
    rng = random.Random(SEED)
    rows, lengths = [], []
    for i in range(N_ROWS):
        target = rng.randint(MIN_LEN, MAX_LEN)
        company, metric = COMPANIES[i % len(COMPANIES)], rng.choice(METRICS)

        def sentence(company: str = company, metric: str = metric) -> str:
            return rng.choice(SENTENCES).format(
                c=company, m=metric, v=rng.randint(10, 999), d=rng.randint(1, 9), p=rng.randint(2, 30),
                q=rng.randint(31, 45), y=rng.randint(2026, 2028),
            )  # fmt: skip

        question = f"{company} {metric}, last quarter?"
        answer = [f"${rng.randint(10, 999)}.{rng.randint(1, 9)} million."]
        context: list[str] = []

        def render(context: list[str] = context, answer: list[str] = answer, question: str = question):
            user = (f"Passage: {' '.join(context)}\n\n" if context else "") + question
            messages = [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": user},
                {"role": "assistant", "content": " ".join(answer)},
            ]
            return messages, len(tokenizer.apply_chat_template(messages)["input_ids"])

        messages, n = render()
        while n < target:  # grow the passage, and the answer a quarter as fast
            grown = answer if len(answer) * 4 < len(context) else context
            grown.append(sentence())
            messages, n = render()
            if n > MAX_LEN:  # one sentence too many
                grown.pop()
                messages, n = render()
                break
        rows.append({"messages": messages})
        lengths.append(n)
    return rows, lengths


def worker(grouped: bool) -> dict[str, Any]:
    """One training run in this process (peak RSS is this run's own)."""
    from transformers import AutoTokenizer

    from synthtune.config import BUNDLED_GENERATOR, TrainSettings
    from synthtune.llm.bundled import resolve_generator
    from synthtune.train.trainer import train

    tokenizer = AutoTokenizer.from_pretrained(resolve_generator(BUNDLED_GENERATOR))
    rows, lengths = make_rows(tokenizer)
    settings = TrainSettings(
        batch_size=BATCH, grad_accum=1, max_length=512, group_by_length=grouped, eval_steps=10_000,
        save_steps=10_000, seed=0,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        result = train(rows, [], settings, out, max_steps=STEPS)
    return {
        "grouped": grouped,
        "tokens_per_s": result.tokens_per_s,
        "train_tokens": result.train_tokens,
        "padded_tokens": result.train_padded_tokens,
        "seconds": result.train_seconds,
        "cpu_seconds": result.train_cpu_seconds,
        "tokens_per_cpu_s": result.train_tokens / result.train_cpu_seconds,
        "load_average": os.getloadavg()[0],
        "steps": result.steps,
        "peak_rss_mb": result.peak_mem_mb,
        "loss_first": result.train_loss_first,
        "loss_last": result.train_loss_last,
        "lengths": lengths,
    }


def frozen_worker(cache: bool) -> dict[str, Any]:
    """Adapters in the top FROZEN_TOP layers, an epoch and FROZEN_EXTRA steps; the second epoch's step
    times (its first step excluded), in wall and in CPU seconds (the process's: immune to other load on
    the machine and to time the hypervisor takes)."""
    import time

    from transformers import AutoTokenizer, TrainerCallback

    from synthtune.config import BUNDLED_GENERATOR, TrainSettings
    from synthtune.llm.bundled import resolve_generator
    from synthtune.train.trainer import train

    tokenizer = AutoTokenizer.from_pretrained(resolve_generator(BUNDLED_GENERATOR))
    rows, _ = make_rows(tokenizer)
    ends: list[float] = []
    cpu_ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            ends.append(time.perf_counter())
            cpu_ends.append(time.process_time())

    per_epoch = N_ROWS // BATCH
    settings = TrainSettings(
        batch_size=BATCH, grad_accum=1, max_length=512, eval_steps=10_000, save_steps=10_000, seed=0,
        lora_top_layers=FROZEN_TOP, lora_dropout=0.0, cache_frozen_layers=cache,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        result = train(rows, [], settings, out, max_steps=per_epoch + FROZEN_EXTRA, callbacks=[Clock()])

    def steps(t: list[float], first: int, last: int) -> float:
        return median([b - a for a, b in zip(t[first:last], t[first + 1 : last], strict=False)])

    return {
        "cache": cache,
        "step_seconds": steps(ends, per_epoch, len(ends)),
        "step_cpu_seconds": steps(cpu_ends, per_epoch, len(ends)),
        "epoch1_step_seconds": steps(ends, 1, per_epoch),
        "epoch1_step_cpu_seconds": steps(cpu_ends, 1, per_epoch),
        "loss_last": result.train_loss_last,
        "frozen_cache": result.frozen_cache,
        "load_average": os.getloadavg()[0],
    }


def run_worker(grouped: bool) -> dict[str, Any]:
    return _run(["--worker", "grouped" if grouped else "baseline"])


def _run(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(rounds: int = 1) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "grouped": []}
    for i in range(rounds):
        order = ["baseline", "grouped"] if i % 2 == 0 else ["grouped", "baseline"]
        for name in order:
            log(NAME, f"round {i + 1}/{rounds}: {name}")
            runs[name].append(run_worker(name == "grouped"))

    frozen: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for i in range(rounds):
        for cache in (False, True) if i % 2 == 0 else (True, False):
            log(
                NAME,
                f"round {i + 1}/{rounds}: top {FROZEN_TOP} layers, frozen-layer cache {'on' if cache else 'off'}",
            )
            frozen[cache].append(_run(["--frozen", "on" if cache else "off"]))

    def ratios(key: str) -> list[float]:
        return [g[key] / b[key] for g, b in zip(runs["grouped"], runs["baseline"], strict=True)]

    wall, cpu = median(ratios("tokens_per_s")), median(ratios("tokens_per_cpu_s"))
    lengths = runs["baseline"][0]["lengths"]

    def summary(name: str) -> dict[str, float]:
        rs = runs[name]
        return {
            "tokens_per_s": median([r["tokens_per_s"] for r in rs]),
            "tokens_per_cpu_s": median([r["tokens_per_cpu_s"] for r in rs]),
            "seconds": median([r["seconds"] for r in rs]),
            "train_tokens": median([r["train_tokens"] for r in rs]),
            "padded_tokens": median([r["padded_tokens"] for r in rs]),
            "pad_efficiency": median([r["train_tokens"] / r["padded_tokens"] for r in rs]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "load_average": median([r["load_average"] for r in rs]),
        }

    rows = []
    for name, label in [("baseline", "padded, random order"), ("grouped", "length-grouped batches")]:
        s = summary(name)
        rows.append(
            [
                label,
                f"{s['tokens_per_s']:.1f}",
                f"{s['tokens_per_cpu_s']:.1f}",
                f"{s['seconds']:.0f}",
                f"{s['train_tokens']:,.0f}",
                f"{s['padded_tokens']:,.0f}",
                f"{100 * s['pad_efficiency']:.0f}%",
                f"{s['peak_rss_mb']:,.0f}",
                f"{s['load_average']:.1f}",
            ]
        )
    headers = ["batches", "real tok/s", "real tok/CPU-s", "train s", "real tokens", "padded tokens",
               "real/padded", "peak RSS MiB", "load (1 min)"]  # fmt: skip

    def speedups(key: str) -> list[float]:
        return [off[key] / on[key] for off, on in zip(frozen[False], frozen[True], strict=True)]

    frozen_rows = [
        [
            "on" if cache else "off",
            f"{median([r['epoch1_step_seconds'] for r in frozen[cache]]):.2f}",
            f"{median([r['step_seconds'] for r in frozen[cache]]):.2f}",
            f"{median([r['epoch1_step_cpu_seconds'] for r in frozen[cache]]):.2f}",
            f"{median([r['step_cpu_seconds'] for r in frozen[cache]]):.2f}",
            f"{frozen[cache][0]['loss_last']:.4f}",
            frozen[cache][0]["frozen_cache"] or "",
        ]
        for cache in (False, True)
    ]
    passed = min(wall, cpu) >= THRESHOLD
    table = (
        md_table(headers, rows)
        + f"\n\nGrouped / baseline: **{wall:.2f}x** real tokens per second, **{cpu:.2f}x** real tokens per "
        f"CPU-second (target >= {THRESHOLD}x on both; the CPU-time ratio is immune to other load on the "
        f"machine). {N_ROWS} rows, lengths {min(lengths)}-{max(lengths)} tokens (mean "
        f"{sum(lengths) / len(lengths):.0f}), SmolLM2-135M + LoRA r16 all-linear, batch {BATCH}, first "
        f"{STEPS} steps ({STEPS * BATCH} rows), float32 on CPU, {rounds} round(s)."
        f"\n\n**Kept frozen-layer outputs** (`train.cache_frozen_layers`; no target): adapters in the top "
        f"{FROZEN_TOP} of 30 layers, the same {N_ROWS} rows in length-grouped batches of {BATCH}, one epoch "
        f"({N_ROWS // BATCH} steps) and {FROZEN_EXTRA} more; median seconds per step, wall and CPU (the process's CPU seconds: immune to other load on the "
        "machine).\n\n"
        + md_table(
            [
                "cache",
                "epoch 1 s/step",
                "epoch 2 s/step",
                "epoch 1 CPU-s/step",
                "epoch 2 CPU-s/step",
                "last loss",
                "cache summary",
            ],
            frozen_rows,
        )  # fmt: skip
        + f"\n\nEpoch-2 steps with the cache on: **{median(speedups('step_seconds')):.2f}x** faster in wall time, "
        f"**{median(speedups('step_cpu_seconds')):.2f}x** in CPU time (medians of {rounds} round(s)); the same loss "
        "either way."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"grouped / padded: {wall:.2f}x real tokens/s, {cpu:.2f}x per CPU-second; kept frozen-layer "
        f"outputs: epoch-2 steps {median(speedups('step_seconds')):.2f}x faster",
        "table": table,
        "details": {
            "ratio_wall": wall,
            "ratio_cpu": cpu,
            "ratios_wall": ratios("tokens_per_s"),
            "ratios_cpu": ratios("tokens_per_cpu_s"),
            **{k: summary(k) for k in runs},
            "lengths": lengths,
            "frozen_speedup": median(speedups("step_seconds")),
            "frozen_speedup_cpu": median(speedups("step_cpu_seconds")),
            "frozen": {("on" if c else "off"): frozen[c] for c in frozen},
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="baseline/grouped pairs, alternating order")
    parser.add_argument("--worker", choices=["baseline", "grouped"], help=argparse.SUPPRESS)
    parser.add_argument("--frozen", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.frozen:
        print(json.dumps(frozen_worker(args.frozen == "on")))
    elif args.worker:
        print(json.dumps(worker(args.worker == "grouped")))
    else:
        result = main(args.rounds)
        print(result["table"])
        print(f"\n{'PASS' if result['passed'] else 'FAIL'}: {TARGET}")
