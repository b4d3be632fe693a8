"""The demo pipeline, measured (issues 4, 5 and 10): `make demo`'s settings on a fresh project.

Runs ``synthtune run`` with ``examples/acme/synthtune.yaml`` (its paths made absolute) in a new folder,
then reads what it recorded:

- **Wall time** of the whole run and of each stage; target: within 15 minutes.
- **Knowledge** (the report's knowledge scope): closed-book numeric_match of ``tuned`` against ``base``
  on the gold questions about documents the model was trained on (documents with accepted train-split
  examples); target: a difference of at least +0.30 whose 95% paired-bootstrap interval excludes 0.
  The denominator is those gold questions only.
- **Skill** (the report's skill scope): ``tuned+rag`` against ``base+rag`` on the other questions (the
  test split's accepted examples and the gold questions about documents not trained on), reported.
- **Knowledge on other questions**: the same closed-book comparison on the three dev sets, written apart
  from the gold file (the sets on which demo settings may be chosen; the gold file never is), reported:
  ``examples/acme/dev.jsonl`` (40 questions, mostly headline figures) and
  ``examples/acme/dev_sampled.jsonl`` (60 questions on figures drawn at random from the text of the five
  documents outside the test split, so tables' prior-year, nine-month and balance-sheet figures count as
  often as the documents state them), and ``examples/acme/dev_rephrased.jsonl`` (dev's 40 figures asked
  in words the templates do not use: "the June 2025 quarter", "delivered", "EPS on a diluted basis"). The
  denominator of each is its questions about trained documents.

The demo runs three times, each on a fresh project (``python benchmarks/bench_demo.py N`` for N runs):
training stops at a time limit, so the steps it fits, and what the model learns, differ from run to run.
The whole-run time is the median of the runs; the run with the median gold knowledge difference is
reported in full and decides the knowledge target; every run's differences are listed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from common import DEMO_DOCS, DEMO_GOLD, REPO, log, md_table

from synthtune.hardware import cpu_has_amx

NAME = "demo"
TARGET = (
    "`make demo` settings: whole run <= 15 min; knowledge: tuned - base closed-book numeric_match on gold "
    "questions about trained documents >= +0.30 with a 95% CI excluding 0"
)
DEV_SETS = {
    "dev (headline figures)": REPO / "examples" / "acme" / "dev.jsonl",
    "dev_sampled (figures drawn at random)": REPO / "examples" / "acme" / "dev_sampled.jsonl",
    "dev_rephrased (dev's figures, asked as analysts do)": REPO / "examples" / "acme" / "dev_rephrased.jsonl",
}
EXE = str(Path(sys.executable).with_name("synthtune"))
LIMIT_S = 15 * 60


def _settings(overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The demo's settings, paths made absolute, with ``overrides`` (section -> settings) on top."""
    settings = yaml.safe_load((REPO / "examples" / "acme" / "synthtune.yaml").read_text())
    settings["ingest"]["paths"] = [str(DEMO_DOCS)]
    settings["eval"]["gold"] = str(DEMO_GOLD)
    for section, values in (overrides or {}).items():
        settings.setdefault(section, {}).update(values)
    return settings


def _cli(project: Path, *args: str, timeout: int = 3600) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [EXE, "-C", str(project), *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"synthtune {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _cut(training: dict[str, Any]) -> str:
    planned = training.get("planned_steps")
    return f" of {planned} planned (cut by train.max_minutes)" if planned else ""


def _comparison(scope: dict[str, Any] | None, system: str, metric: str) -> dict[str, Any] | None:
    for c in (scope or {}).get("comparisons", []):
        if c["system"] == system and c["metric"] == metric:
            return c
    return None


def _means(scope: dict[str, Any] | None, metric: str) -> dict[str, float | None]:
    return {x["name"]: x["metrics"].get(metric) for x in (scope or {}).get("systems", [])}


def _row(label: str, scope: dict[str, Any] | None, system: str, against: str) -> list[Any]:
    if not scope:
        return [label, 0, "–", "–", "–", "–", "–"]
    means = _means(scope, "numeric_match")
    nm = _comparison(scope, system, "numeric_match")
    f1 = _comparison(scope, system, "token_f1")

    def fmt(c: dict[str, Any] | None) -> str:
        if not c:
            return "–"
        # numeric_match counts only the questions whose reference states a number
        of = f" (n={c['n']})" if c.get("n") not in (None, scope["n"]) else ""
        return f"{c['difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]{of}"

    return [
        label,
        scope["n"],
        f"{system} vs {against}",
        f"{means.get(against) or 0:.3f}",
        f"{means.get(system) or 0:.3f}",
        fmt(nm),
        fmt(f1),
    ]


def _one_run(overrides: dict[str, dict[str, Any]] | None = None, name: str = NAME) -> dict[str, Any]:
    """``synthtune run`` on a fresh project, then the closed-book evaluation on the three dev sets."""
    with tempfile.TemporaryDirectory(prefix="synthtune-demo-") as tmp:
        project = Path(tmp) / "demo-run"
        project.mkdir()
        (project / "synthtune.yaml").write_text(yaml.safe_dump(_settings(overrides), sort_keys=False))
        log(name, f"synthtune run in {project}")
        start = time.perf_counter()
        summary = _cli(project, "run")
        wall = time.perf_counter() - start
        results = json.loads((project / "report" / "results.json").read_text())
        log(name, f"run took {wall:.0f} s; dev-set evaluation")
        settings = _settings(overrides)
        settings["eval"]["test_split"] = False  # the dev questions only
        (project / "synthtune.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        dev_start = time.perf_counter()
        dev = {}
        for i, (label, path) in enumerate(DEV_SETS.items()):
            out = project / f"dev-report-{i}"
            _cli(project, "eval", "--questions", str(path), "--out", str(out))
            dev[label] = (json.loads((out / "results.json").read_text()).get("scopes") or {}).get("knowledge")
        dev_seconds = time.perf_counter() - dev_start
    return {"wall": wall, "summary": summary, "results": results, "dev": dev, "dev_seconds": dev_seconds}


def _diff(scope: dict[str, Any] | None, system: str) -> float | None:
    c = _comparison(scope, system, "numeric_match")
    return c["difference"] if c else None


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    """One run's wall time, training steps and tuned - base numeric_match differences."""
    scopes = run["results"].get("scopes") or {}
    return {
        "wall_seconds": round(run["wall"], 1),
        "training_steps": (run["results"].get("training") or {}).get("steps"),
        "knowledge_gold": _diff(scopes.get("knowledge"), "tuned"),
        "skill": _diff(scopes.get("skill"), "tuned+rag"),
        "dev": {label: _diff(k, "tuned") for label, k in run["dev"].items()},
    }


def _runs_table(figures: list[dict[str, Any]]) -> str:
    """One row per run."""
    rows = []
    for i, f in enumerate(figures, 1):
        cells = [f["knowledge_gold"], f["skill"], *f["dev"].values()]
        rows.append(
            [i, f"{f['wall_seconds']:.0f}", f["training_steps"]]
            + ["–" if x is None else f"{x:+.3f}" for x in cells]
        )
    labels = ["knowledge, gold", "skill"] + [f"knowledge, {label.split()[0]}" for label in DEV_SETS]
    return md_table(["run", "wall s", "training steps", *labels], rows)


def main(
    repeats: int = 3,
    overrides: dict[str, dict[str, Any]] | None = None,
    name: str = NAME,
    target: str = TARGET,
) -> dict[str, Any]:
    """``repeats`` fresh demo runs, one after another: the time limit on training makes the number of
    steps, and so what the model learns, differ from one run to the next. The median run (by the gold
    knowledge difference) is the one reported in full, and the whole-run time is the median of all.
    ``overrides``: settings on top of the demo's (section -> settings), for a variant of it."""
    runs = []
    for i in range(repeats):
        log(name, f"run {i + 1} of {repeats}")
        runs.append(_one_run(overrides, name))
    figures = [_figures(r) for r in runs]
    ranked = sorted(range(repeats), key=lambda i: figures[i]["knowledge_gold"] or 0.0)
    median_run = runs[ranked[(repeats - 1) // 2]]
    wall = statistics.median(r["wall"] for r in runs)
    summary, results, dev = median_run["summary"], median_run["results"], median_run["dev"]
    dev_seconds = median_run["dev_seconds"]
    stages = {s["stage"]: round(s["seconds"], 1) for s in summary["stages"]}
    scopes = results.get("scopes") or {}
    knowledge = scopes.get("knowledge")
    k_nm = _comparison(knowledge, "tuned", "numeric_match")
    dev_nm = {label: _comparison(k, "tuned", "numeric_match") for label, k in dev.items()}
    time_ok = wall <= LIMIT_S
    knowledge_ok = bool(k_nm and k_nm["difference"] >= 0.30 and k_nm["ci_low"] > 0)
    dataset = results.get("dataset") or {}
    training = results.get("training") or {}
    rows = [
        _row("knowledge, gold", knowledge, "tuned", "base"),
        _row("skill, gold + test split", scopes.get("skill"), "tuned+rag", "base+rag"),
    ] + [_row(f"knowledge, {label}", k, "tuned", "base") for label, k in dev.items()]
    table = (
        f"{repeats} fresh runs, one after another. Whole run: **{wall:.0f} s**, the median of the runs "
        f"(target <= {LIMIT_S} s: {'PASS' if time_ok else 'FAIL'}). Tuned - base numeric_match of each "
        "run:\n\n"
        + _runs_table(figures)
        + "\n\nThe median run by the gold knowledge difference, in full. Stages, seconds:\n\n"
        + md_table(list(stages), [list(stages.values())])
        + "\n\nKnowledge and skill (numeric_match means; differences with 95% paired-bootstrap intervals; "
        "n = the questions of that scope):\n\n"
        + md_table(
            ["scope", "n", "comparison", "baseline", "system", "numeric_match diff", "token F1 diff"], rows
        )
        + f"\n\nDataset: {json.dumps(dataset.get('counts'))}; question sets {json.dumps(dataset.get('question_sets'))}. "
        f"Training: {training.get('steps')} steps{_cut(training)}, on a CPU "
        f"{'with' if cpu_has_amx() else 'without'} AMX ({'bfloat16' if training.get('cpu_bf16') else 'float32'}); "
        + (f"frozen layers: {training['frozen_cache']}; " if training.get("frozen_cache") else "")
        + f"eval loss {training.get('eval_loss_before')} -> "
        f"{training.get('eval_loss')}. The dev-set evaluations (not part of the run) took {dev_seconds:.0f} s.\n"
    )
    headline = (
        f"{wall / 60:.1f} min (median of {repeats}); knowledge tuned - base numeric_match "
        + (
            f"{k_nm['difference']:+.3f} [{k_nm['ci_low']:+.3f}, {k_nm['ci_high']:+.3f}] (n={k_nm['n']}, median run)"
            if k_nm
            else "n/a"
        )
        + "".join(
            f"; {label.split()[0]} {c['difference']:+.3f} (n={c['n']})" for label, c in dev_nm.items() if c
        )
    )
    return {
        "name": name,
        "target": target,
        "passed": time_ok and knowledge_ok,
        "headline": headline,
        "table": table,
        "details": {
            "repeats": repeats,
            "overrides": overrides or {},
            "wall_seconds": round(wall, 1),
            "runs": figures,
            "stages": stages,
            "scopes": scopes,
            "dev_knowledge": dev,
            "headline_lines": summary.get("headline"),
            "dataset": dataset,
            "training": {k: v for k, v in training.items() if k != "loss_curve"},
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=1, default=str))
