"""A model with the bundled SmolLM2-135M-Instruct's architecture and tokenizer and random weights, for the
GPU check on a machine the bundled model cannot reach.

The device machine takes at most 64 MiB of files per call; the bundled model's GGUF is 94 MiB and the
bitsandbytes wheel the check needs is 41 MiB. So the check carries the bundled model's config and
tokenizer files (3.4 MiB, made here by ``--export``) and builds the model there. Its parts then measure
what they measure on a model of the real size and shape: QLoRA's training steps and merge, and tokens/s.
The loss falls as it learns the training rows from nothing; replies are not words.

    .venv/bin/python benchmarks/gpu_random_model.py --export .gpu_model    # here: config and tokenizer
    python3 benchmarks/gpu_random_model.py .gpu_model /tmp/random_smollm2  # there: the model
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

FILES = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
]


def export(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from synthtune.llm.bundled import resolve_generator

    source = Path(resolve_generator("bundled"))
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    print(f"copied {', '.join(p.name for p in sorted(out.iterdir()))} from {source} to {out}")


def build(files: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(files)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out)
    for name in FILES:
        if name != "config.json" and (files / name).is_file():
            shutil.copy2(files / name, out / name)
    n = sum(p.numel() for p in model.parameters())
    (out / "ABOUT.txt").write_text(
        f"SmolLM2-135M-Instruct's architecture and tokenizer, random weights (seed 0, {n / 1e6:.0f}M parameters), "
        "built on the GPU machine by benchmarks/gpu_random_model.py\n",
        encoding="utf-8",
    )
    print(f"built {out}: {n / 1e6:.1f}M parameters, random weights")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, help="the folder of config and tokenizer files")
    parser.add_argument("out", type=Path, nargs="?", help="where to save the model")
    parser.add_argument("--export", action="store_true", help="copy the bundled model's files into FILES")
    args = parser.parse_args()
    if args.export:
        export(args.files)
    elif args.out is None:
        parser.error("say where to save the model")
    else:
        build(args.files, args.out)
