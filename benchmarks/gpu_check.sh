#!/usr/bin/env bash
# The prepared GPU check of issue 12: QLoRA training and merge, the vllm backend against the transformers
# backend, and executor: ray with a 1-GPU vllm actor, on one CUDA GPU (benchmarks/bench_gpu.py says what
# each part measures). About 5 minutes; its parts stop at 450 s, so it ends within 8 minutes.
#
# How to run it: with the project's device tool, one call from the repository root,
#     run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
# (add carry: [".whl", ".gpu_model"] when wheels and the model's files travel, below). It prints nvidia-smi, runs
# `benchmarks/run_all.py --only gpu`, which writes the gpu section of benchmarks/RESULTS.md on that
# machine, and copies RESULTS.md and the log to $OUT, so they come back. Copy the section between the
# `<!-- bench:gpu -->` markers into this checkout's benchmarks/RESULTS.md. On any other machine with a GPU:
#     bash benchmarks/gpu_check.sh          (RESULTS.md is rewritten in place; no $OUT needed)
#
# It installs nothing from the network (the GPU machine has none). Python: $PYTHON, else .venv/bin/python
# where it runs, else python3; synthtune is imported from src/. Wheels of packages that machine lacks can
# travel in .whl/ (the device tool's README says how to download them here); they are installed from
# there, without an index, into /tmp/site. A part whose needs are still missing (a CUDA GPU, vllm,
# bitsandbytes, ray, the bundled model, synthtune's own dependencies) is reported as skipped, with why.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -x .venv/bin/python ]] && .venv/bin/python -c "" 2>/dev/null; then
    py=.venv/bin/python
else
    py=python3
fi

echo "=== nvidia-smi"
nvidia-smi || echo "nvidia-smi failed or is missing: the check's parts will say what they lack"

if compgen -G ".whl/*.whl" >/dev/null; then
    echo "=== installing the wheels in .whl/ into /tmp/site (no index)"
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# The bundled model's GGUF (94 MiB) cannot travel with the device tool (64 MiB a call): carry its config
# and tokenizer instead (`benchmarks/gpu_random_model.py --export .gpu_model`, carry: [".gpu_model"]) and
# the check runs on a model of its size and shape, with random weights, built here.
if [[ -z "${BENCH_GPU_MODEL:-}" && -f .gpu_model/config.json ]]; then
    echo "=== building a random-weight model from .gpu_model/"
    "$py" benchmarks/gpu_random_model.py .gpu_model /tmp/random_smollm2
    export BENCH_GPU_MODEL=/tmp/random_smollm2
fi

echo "=== $py benchmarks/run_all.py --only gpu"
status=0
"$py" benchmarks/run_all.py --only gpu 2>&1 | tee /tmp/gpu_check.log || status=$?

if [[ -n "${OUT:-}" ]]; then
    cp benchmarks/RESULTS.md "$OUT/RESULTS.md"
    cp /tmp/gpu_check.log "$OUT/gpu_check.log"
    echo "=== copied RESULTS.md and gpu_check.log to \$OUT"
fi
exit "$status"
