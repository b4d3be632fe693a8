"""Run the benchmarks and rewrite their sections of benchmarks/RESULTS.md.

Every ``bench_*.py`` module in this folder has ``main() -> dict`` with the keys ``name``, ``target``,
``passed`` (True, False, or None when skipped), ``table`` (markdown) and ``details``. Each runs guarded:
an exception is recorded as an ERROR section and the others still run. A benchmark's section sits
between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; sections of benchmarks not run this time,
or skipped this time (their data absent), are kept as they were, and so is any text written outside
the markers. The intro and the summary table (between ``results:head`` markers) are regenerated.

    .venv/bin/python benchmarks/run_all.py                    # all of them
    .venv/bin/python benchmarks/run_all.py --only parse --only search
    .venv/bin/python benchmarks/run_all.py --list
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from common import BENCH_DIR, header_markdown, load_average, machine_header, verdict

RESULTS = BENCH_DIR / "RESULTS.md"
ORDER = ["parse", "embed", "search", "search_dev", "reingest"]  # then any others, alphabetically
_SECTION = re.compile(
    r"<!-- bench:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n?", re.DOTALL
)
_SUMMARY = re.compile(r"<!-- summary (?P<json>\{.*?\}) -->")
_HEAD = re.compile(r"<!-- results:head -->\n.*?<!-- /results:head -->\n?", re.DOTALL)

INTRO = """# Benchmarks

Reproducible measurements of the targets in the issues, written by `benchmarks/run_all.py` (one
section per benchmark; `make bench` runs them all, `--only NAME` one of them). Every section records
when and where it ran: the development machine is a shared 2-core VM on which other processes run at
the same time, so each baseline and candidate are measured side by side, interleaved, over several
rounds, and medians are reported; the load average at the start and end of each benchmark is noted.
Numbers from a busy machine are noisy: compare ratios within a section, not absolute times across
sections.
"""


def discover() -> list[str]:
    """Module names of the benchmarks here, in report order."""
    names = [p.stem for p in sorted(BENCH_DIR.glob("bench_*.py"))]
    rank = {f"bench_{n}": i for i, n in enumerate(ORDER)}
    return sorted(names, key=lambda m: (rank.get(m, len(ORDER)), m))


def run_one(module_name: str) -> dict[str, Any]:
    """Import and run one benchmark; never raises (an error becomes a result that says so)."""
    short = module_name.removeprefix("bench_")
    header = machine_header()
    start = time.perf_counter()
    print(f"=== {module_name} (load {header['load average']})", file=sys.stderr, flush=True)
    try:
        module = importlib.import_module(module_name)
        result = module.main()
        missing = {"name", "target", "passed", "table", "details"} - set(result)
        if missing:
            raise TypeError(f"{module_name}.main() returned a dict without {sorted(missing)}")
    except Exception as exc:  # noqa: BLE001 - one benchmark's failure must not stop the others
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        result = {
            "name": short,
            "target": getattr(sys.modules.get(module_name), "TARGET", "(unknown)"),
            "passed": False,
            "error": f"{type(exc).__name__}: {exc}",
            "table": "The benchmark raised an error:\n\n```\n"
            + "\n".join(trace.splitlines()[-15:])
            + "\n```",
            "details": {},
        }
    result["_header"] = header
    result["_seconds"] = time.perf_counter() - start
    result["_load_end"] = load_average()
    print(f"=== {module_name}: {status(result)} in {result['_seconds']:.0f} s", file=sys.stderr, flush=True)
    return result


def status(result: dict[str, Any]) -> str:
    return "ERROR" if result.get("error") else verdict(result["passed"])


def render_section(result: dict[str, Any]) -> str:
    name = result["name"]
    summary = {
        "name": name,
        "target": result["target"],
        "status": status(result),
        "headline": result.get("headline", ""),
        "date": result["_header"]["date"],
    }
    details = json.dumps(result.get("details", {}), indent=1, default=str, sort_keys=False)
    return (
        f"<!-- bench:{name} -->\n"
        f"## {name}\n\n"
        f"<!-- summary {json.dumps(summary)} -->\n"
        f"**{status(result)}** — target: {result['target']}"
        + (f" — result: {result['headline']}" if result.get("headline") else "")
        + "\n\n"
        f"{header_markdown(result['_header'])}\n"
        f"- took {result['_seconds']:.0f} s; load average at the end: {result['_load_end']}\n"
        f"- reproduce: `.venv/bin/python benchmarks/run_all.py --only {name}`\n\n"
        f"{result['table'].strip()}\n\n"
        f"<details><summary>details (JSON)</summary>\n\n```json\n{details}\n```\n</details>\n\n"
        f"<!-- /bench:{name} -->\n"
    )


def render(sections: dict[str, str], notes: str = "") -> str:
    """The whole file: intro and a summary table built from every section (between results:head markers),
    any hand-written notes kept as they were, then the sections in order."""
    rank = {n: i for i, n in enumerate(ORDER)}
    names = sorted(sections, key=lambda n: (rank.get(n, len(ORDER)), n))
    rows = []
    for n in names:
        m = _SUMMARY.search(sections[n])
        s = json.loads(m.group("json")) if m else {"target": "", "status": "?", "headline": "", "date": ""}
        rows.append(f"| [{n}](#{n}) | {s['target']} | {s['headline']} | **{s['status']}** | {s['date']} |")
    summary = (
        "## Summary\n\n| benchmark | target | result | status | run |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    head = f"<!-- results:head -->\n{INTRO}\n{summary}<!-- /results:head -->\n"
    notes = notes.strip()
    return head + ("\n" + notes + "\n" if notes else "") + "\n" + "\n".join(sections[n] for n in names)


def read_sections(text: str) -> tuple[dict[str, str], str]:
    """The benchmark sections of an existing file, and whatever else someone wrote outside the markers
    (kept). A file from before the head markers existed: its text before the first section is the old head."""
    sections = {m.group("name"): m.group(0).rstrip("\n") + "\n" for m in _SECTION.finditer(text)}
    if _HEAD.search(text):
        rest = _HEAD.sub("", text)
    else:
        first = _SECTION.search(text)
        rest = text[first.start() :] if first else ""
    return sections, _SECTION.sub("", rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (parse or bench_parse); repeatable",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the markdown file to update")
    args = parser.parse_args(argv)

    modules = discover()
    if args.list:
        print("\n".join(m.removeprefix("bench_") for m in modules))
        return 0
    if args.only:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in args.only}
        unknown = wanted - {m.removeprefix("bench_") for m in modules}
        if unknown:
            parser.error(f"no benchmark named {', '.join(sorted(unknown))} (have: {', '.join(modules)})")
        modules = [m for m in modules if m.removeprefix("bench_") in wanted]

    sections, notes = (
        read_sections(args.results.read_text(encoding="utf-8")) if args.results.exists() else ({}, "")
    )
    failed = False
    for module_name in modules:
        result = run_one(module_name)
        name = result["name"]
        if result["passed"] is None and not result.get("error") and name in sections:
            print(f"=== {name} skipped this time: its recorded section is kept", file=sys.stderr)
        else:
            sections[name] = render_section(result)
        failed |= bool(result.get("error"))
        # write after each benchmark, so an interrupted run keeps what it measured
        args.results.write_text(render(sections, notes), encoding="utf-8")
    print(f"wrote {args.results}", file=sys.stderr)
    return 1 if failed else 0  # a missed target is a result, not an error


if __name__ == "__main__":
    sys.exit(main())
