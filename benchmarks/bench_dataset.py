"""Dataset quality with the bundled SmolLM2-135M-Instruct.

1. The demo corpus (examples/acme): share of chunks that yield an accepted example, share of generated
   questions accepted, rejections per check (parse-time and curation-time), duplicates removed, coverage.
   Target: at least half of the chunks yield an accepted example.
2. ../shared/data/ectsum (a sample of earnings-call transcripts): how many accepted answers state a fact
   that also appears in the transcript's reference summary (a number of the answer found in the summary).

Run: python benchmarks/bench_dataset.py [--ectsum N] [--limit-chunks N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import machine_header  # noqa: E402

from synthtune.store import open_store  # noqa: E402

ECTSUM = ROOT.parent / "shared" / "data" / "ectsum" / "test"


def run_pipeline(project: Path, docs: list[Path], settings: dict, limit_chunks: int | None) -> dict:
    from synthtune.project import Project
    from synthtune.synth.curate import curate
    from synthtune.synth.generate import generate

    project.mkdir(parents=True, exist_ok=True)
    (project / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    t0 = time.perf_counter()
    with Project(project) as p:
        p.ingest(docs)
        t1 = time.perf_counter()
        gen = generate(p, limit_chunks=limit_chunks)
        t2 = time.perf_counter()
        cur = curate(p)
        t3 = time.perf_counter()
    return {
        "generate": gen.to_json(),
        "curate": cur.to_json(),
        "seconds": {"ingest": round(t1 - t0, 1), "generate": round(t2 - t1, 1), "curate": round(t3 - t2, 1)},
    }


def dataset_numbers(project: Path) -> dict:
    with open_store(project) as store:
        counts = store.dataset_counts()
        accepted_examples = store.examples(status="accepted")
    attempted = counts.chunks_attempted
    covered = len({ex.chunk_id for ex in accepted_examples})
    parse_rejects = dict(sorted(counts.questions_rejected_at_parse.items(), key=lambda kv: -kv[1]))
    generated = counts.questions + sum(parse_rejects.values())
    accepted = counts.accepted
    curate_rejects = counts.rejections_by_check
    samples = [{"question": ex.question, "answer": ex.answer} for ex in accepted_examples[:8]]
    return {
        "chunks_attempted": attempted,
        "chunks_with_accepted_example": covered,
        "chunk_yield": round(covered / attempted, 3) if attempted else 0.0,
        "questions_generated": generated,
        "questions_accepted": accepted,
        "acceptance_of_generated": round(accepted / generated, 3) if generated else 0.0,
        "rejected_at_parse": parse_rejects,
        "rejected_at_curation": curate_rejects,
        "duplicates_removed": curate_rejects.get("duplicate", 0) + parse_rejects.get("duplicate", 0),
        "samples": samples,
    }


def ectsum_facts(project: Path, summaries: dict[str, str]) -> dict:
    from synthtune.text.numbers import extract_numbers, number_supported

    with open_store(project) as store:
        rows = [(ex.source_path, ex.answer or "") for ex in store.examples(status="accepted")]
    stating = 0
    with_numbers = 0
    for path, answer in rows:
        summary = summaries[Path(path).stem]
        nums = extract_numbers(answer)
        if nums:
            with_numbers += 1
        if any(number_supported(n, summary, source_scale=1) for n in nums):
            stating += 1
    return {"accepted_answers": len(rows), "with_numbers": with_numbers, "stating_a_summary_fact": stating}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ectsum", type=int, default=3, help="transcripts to sample from ECTSum (0: skip)")
    ap.add_argument("--ectsum-chunks", type=int, default=4, help="chunks per ECTSum transcript")
    ap.add_argument("--limit-chunks", type=int, default=None, help="demo chunks (default: all)")
    args = ap.parse_args(argv or [])
    # the demo's own settings (examples/acme/synthtune.yaml), less its ingest paths and training
    settings = yaml.safe_load((ROOT / "examples" / "acme" / "synthtune.yaml").read_text())
    settings.pop("ingest", None)
    settings.pop("train", None)
    work = Path(tempfile.mkdtemp(prefix="synthtune-bench-dataset-"))
    try:
        demo = run_pipeline(work / "demo", [ROOT / "examples" / "acme" / "docs"], settings, args.limit_chunks)
        demo_numbers = dataset_numbers(work / "demo")
        result = {"name": "dataset", "demo": demo | demo_numbers}
        if args.ectsum and ECTSUM.exists():
            picks = sorted((ECTSUM / "ects").glob("*.txt"))[: args.ectsum]
            summaries = {p.stem: (ECTSUM / "gt_summaries" / p.name).read_text() for p in picks}
            ect_settings = {
                **settings,
                "generate": {**settings["generate"], "max_chunks_per_document": args.ectsum_chunks},
            }
            run = run_pipeline(work / "ectsum", picks, ect_settings, None)
            result["ectsum"] = {
                "transcripts": [p.name for p in picks],
                **run,
                **dataset_numbers(work / "ectsum"),
                **ectsum_facts(work / "ectsum", summaries),
            }
        elif args.ectsum:
            result["ectsum"] = {"skipped": f"{ECTSUM} not found"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    d = result["demo"]
    result["target"] = "demo: at least half of the chunks yield an accepted example"
    result["passed"] = d["chunk_yield"] >= 0.5
    e = result.get("ectsum", {})
    result["headline"] = (
        f"demo: {d['chunks_with_accepted_example']}/{d['chunks_attempted']} chunks ({d['chunk_yield']:.0%}) yield an "
        "accepted example"
        + (
            f"; ECTSum: {e['stating_a_summary_fact']}/{e['accepted_answers']} accepted answers state a summary number"
            if "accepted_answers" in e
            else ""
        )
    )
    lines = [
        "| measure | demo corpus |",
        "|---|---|",
        f"| chunks with an accepted example | {d['chunks_with_accepted_example']}/{d['chunks_attempted']}"
        f" ({d['chunk_yield']:.0%}) |",
        f"| generated questions accepted | {d['questions_accepted']}/{d['questions_generated']}"
        f" ({d['acceptance_of_generated']:.0%}) |",
        f"| rejected at parse | {d['rejected_at_parse']} |",
        f"| rejected at curation | {d['rejected_at_curation']} |",
        f"| duplicates removed | {d['duplicates_removed']} |",
        f"| seconds (ingest / generate / curate) | {d['seconds']} |",
    ]
    if "accepted_answers" in e:
        lines.append(
            f"| ECTSum ({len(e['transcripts'])} transcripts, {args.ectsum_chunks} chunks each): accepted answers"
            f" stating a summary fact | {e['stating_a_summary_fact']}/{e['accepted_answers']}"
            f" ({e['with_numbers']} with numbers) |"
        )
    result["table"] = "\n".join(lines)
    result["details"] = {"header": machine_header()}
    print(result["table"])
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, default=str)[:4000])
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
