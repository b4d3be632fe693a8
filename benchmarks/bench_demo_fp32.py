"""The demo as a CPU without Intel AMX runs it: `make demo`'s settings with float32 arithmetic throughout.

On a CPU with AMX, synthtune trains (``train.cpu_precision: auto``) and embeds (``embedding.runtime:
auto``) in bfloat16; elsewhere bfloat16 is emulated and no faster, so both run in float32 there. This
benchmark runs the demo with those two settings forced to float32 (``fp32``, ``torch``), so that a
machine with AMX also measures what a 2-core CPU without it gets from the 9-minute training limit: the
steps that fit, and the knowledge the tuned model shows. It is a stand-in, not a CPU without AMX: the
same cores run float32 here with AVX-512, which an older or smaller CPU may lack (on 2026-12-04 a 2-core
Xeon without AMX took 1.10 s a float32 step of the whole model). Everything else, and every measure,
is the demo benchmark's (bench_demo.py): three fresh runs, the median reported.

    .venv/bin/python benchmarks/bench_demo_fp32.py [N]
"""

from __future__ import annotations

import json
import sys
from typing import Any

import bench_demo

NAME = "demo_fp32"
TARGET = "as the demo benchmark's, with training and embedding in float32 (as on a CPU without AMX)"
OVERRIDES = {"train": {"cpu_precision": "fp32"}, "embedding": {"runtime": "torch"}}


def main(repeats: int = 3) -> dict[str, Any]:
    return bench_demo.main(repeats, OVERRIDES, NAME, TARGET)


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=1, default=str))
