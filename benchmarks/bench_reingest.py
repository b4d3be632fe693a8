"""Re-ingesting an unchanged corpus vs ingesting it the first time.

Corpus: the demo documents (examples/acme/docs) plus the earnings releases when ../shared/data is
there. A fresh project in a temp folder ingests it once (embedder already loaded: its load time is
not ingest time), then the same corpus is ingested again, unchanged, two ways, interleaved:
in the same process with the same embedder, and as a separate cold ``synthtune -C DIR ingest ...``
process (Python start-up and imports included), timed from outside with subprocess.
Target: each re-ingest at most 5% of the first ingest.

    .venv/bin/python benchmarks/bench_reingest.py [--repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import DEMO_DOCS, EARNINGS, bundled_embedder, interleave, log, md_table, median, skipped, timed

NAME = "reingest"
TARGET = "re-ingesting an unchanged corpus <= 5% of the first ingest (in-process and cold CLI)"
# A file that fails (a scanned PDF) is not stored and is tried again on every ingest, by design.
THRESHOLD = 0.05


def synthtune_cli() -> list[str]:
    """The installed ``synthtune`` script beside this interpreter (the venv's), else ``python -m``."""
    script = Path(sys.executable).with_name("synthtune")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from synthtune.cli import main; main()"]


def main(repeats: int = 3) -> dict[str, Any]:
    from synthtune.ingest.pipeline import discover, ingest
    from synthtune.project import Project, init_project

    if not DEMO_DOCS.is_dir():
        return skipped(NAME, TARGET, f"{DEMO_DOCS} is absent")
    paths = [DEMO_DOCS] + ([EARNINGS] if EARNINGS.is_dir() else [])
    corpus = (
        "demo corpus + earnings releases" if EARNINGS.is_dir() else "demo corpus only (../shared/data absent)"
    )

    embedder = bundled_embedder()
    embedder.encode(["load the model before the clock starts"])
    with tempfile.TemporaryDirectory(prefix="synthtune-bench-reingest-") as tmp:
        init_project(tmp)
        project = Project(tmp)
        files, _ = discover(paths, project.settings.ingest.include, project.settings.ingest.exclude)
        size_mib = sum(f.stat().st_size for f in files) / 2**20
        log(NAME, f"first ingest of {len(files)} files ({size_mib:.1f} MiB, {corpus})")
        first_s, first = timed(lambda: ingest(project.store, project.settings, paths, embedder=embedder))
        # Files a user cannot ingest (a scanned PDF, say) are reported and tried again on every ingest.
        failed_paths = sorted(f["path"] for f in first.failed)
        stored = len(files) - len(failed_paths)
        log(NAME, f"first ingest: {first_s:.1f} s, {first.chunks} chunks, {first.embedded} embedded, "
                  f"{len(failed_paths)} failed")  # fmt: skip

        reports: list[Any] = []

        def in_process() -> None:
            reports.append(ingest(project.store, project.settings, paths, embedder=embedder))

        cli_outputs: list[dict] = []
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        command = [*synthtune_cli(), "-C", tmp, "ingest", *map(str, paths), "--json"]

        def cold_cli() -> None:
            out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if out.returncode != (1 if failed_paths else 0):  # 1: some file failed, the others are stored
                raise RuntimeError(f"`{' '.join(command)}` exited {out.returncode}: {out.stderr[-2000:]}")
            cli_outputs.append(json.loads(out.stdout))

        log(NAME, f"re-ingest, unchanged: {repeats} interleaved rounds in-process / cold CLI")
        times = interleave({"in-process": in_process, "cold CLI": cold_cli}, repeats=repeats, warmup=0)
        project.close()

        # what re-trying the failed files costs, for the record: loading them again, nothing else
        retry_s = timed(lambda: [_try_load(Path(p)) for p in failed_paths])[0]

    def no_op(added: int, updated: int, unchanged: int, failed: list[dict]) -> bool:
        return (added, updated, unchanged, sorted(f["path"] for f in failed)) == (0, 0, stored, failed_paths)

    for r in reports:
        if not no_op(r.added, r.updated, r.unchanged, r.failed):
            raise RuntimeError(f"re-ingest was not a no-op: {r.to_json()}")
    for o in cli_outputs:
        if not no_op(o["added"], o["updated"], o["unchanged"], o["failed"]):
            raise RuntimeError(f"CLI re-ingest was not a no-op: {o}")

    warm_t, cold_t = median(times["in-process"]), median(times["cold CLI"])
    warm_r, cold_r = warm_t / first_s, cold_t / first_s
    passed = warm_r <= THRESHOLD and cold_r <= THRESHOLD
    rows = [
        ["first ingest (fresh project, embedder loaded)", f"{first_s:.2f}", "1.000", ""],
        [
            "re-ingest unchanged, same process",
            f"{warm_t:.3f}",
            f"{warm_r:.4f}",
            "PASS" if warm_r <= THRESHOLD else "FAIL",
        ],
        [
            "re-ingest unchanged, cold `synthtune ingest` process",
            f"{cold_t:.2f}",
            f"{cold_r:.4f}",
            "PASS" if cold_r <= THRESHOLD else "FAIL",
        ],
    ]
    table = md_table(["", "s", "share of first", f"<= {THRESHOLD:.0%}"], rows) + (
        f"\n\n{len(files)} files ({size_mib:.1f} MiB; {corpus}), {first.chunks} chunks, "
        f"{first.embedded} passages embedded by the first ingest. Re-ingest medians of {repeats} interleaved "
        f"rounds (in-process: {', '.join(f'{t:.3f}' for t in times['in-process'])} s; cold CLI: "
        f"{', '.join(f'{t:.2f}' for t in times['cold CLI'])} s); every re-ingest reported all stored files "
        f"unchanged."
    )
    if failed_paths:
        reasons = "; ".join(f"{Path(f['path']).name}: {f['error']}" for f in first.failed)
        table += (
            f" {len(failed_paths)} file(s) failed the first ingest and fail again on every re-ingest, as they "
            f"should ({reasons}); reading them "
            f"again costs {retry_s:.2f} s of each re-ingest."
        )
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"{warm_r:.2%} in-process, {cold_r:.1%} cold CLI",
        "table": table,
        "details": {
            "files": len(files),
            "mib": round(size_mib, 2),
            "chunks": first.chunks,
            "first_ingest_s": round(first_s, 2),
            "failed": first.failed,
            "retry_failed_load_s": round(retry_s, 3),
            "reingest_in_process_s": [round(t, 4) for t in times["in-process"]],
            "reingest_cold_cli_s": [round(t, 3) for t in times["cold CLI"]],
            "ratio_in_process": round(warm_r, 5),
            "ratio_cold_cli": round(cold_r, 5),
            "cli": " ".join(command),
        },
    }


def _try_load(path: Path) -> None:
    from synthtune.errors import LoaderError
    from synthtune.ingest.loaders import load_document

    with contextlib.suppress(LoaderError):
        load_document(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="re-ingest rounds (each: in-process + cold CLI)"
    )
    args = parser.parse_args()
    result = main(args.repeats)
    print(result["table"])
    print(json.dumps(result["details"], indent=1))
