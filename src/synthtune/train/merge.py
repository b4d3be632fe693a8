"""An adapter merged into an unquantized copy of its base, saved as a plain transformers folder.

The base is always reloaded unquantized: float32 on a CPU, 16-bit on a GPU. An adapter trained on a
4-bit base (QLoRA) is merged into the full-precision base it was quantized from, never into 4-bit
weights (which would round the merged update away). The result loads with
``AutoModelForCausalLM.from_pretrained`` and any server that reads that layout.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthtune.errors import ConfigError, ModelNotFoundError
from synthtune.paths import ensure_writable_dir
from synthtune.train.trainer import META_NAME, TEMPLATE_NAME, _versions, read_meta, resolve_base


def _merge_dtype(dtype: str) -> Any:
    import torch

    if dtype == "auto":
        if not torch.cuda.is_available():
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ConfigError(f"merge dtype must be auto, float32, bfloat16 or float16, got {dtype!r}") from None


def merge(adapter_dir: str | Path, out_dir: str | Path, dtype: str = "auto") -> Path:
    """Merge the LoRA adapter in ``adapter_dir`` into its base and save it to ``out_dir``."""
    adapter = Path(adapter_dir)
    out = Path(out_dir)
    if not (adapter / "adapter_config.json").exists():
        raise ModelNotFoundError(f"{adapter} holds no LoRA adapter (adapter_config.json is missing)")
    meta = read_meta(adapter)
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    base = meta.get("base_model") or adapter_config.get("base_model_name_or_path")
    if not base:
        raise ModelNotFoundError(f"{adapter}: cannot tell which base model the adapter belongs to")
    if out.exists() and any(out.iterdir()) and read_meta(out).get("kind") != "merged_model":
        raise ConfigError(f"{out} exists and is not a merged model from synthtune; pick another --out")
    ensure_writable_dir(out.parent, "folder for the merged model")  # before the models are loaded

    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model_path = resolve_base(base)
    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load base model {base!r}: {exc}") from None
    if getattr(config, "quantization_config", None):
        raise ConfigError(
            f"the base model {base!r} is stored quantized; merge into its full-precision original "
            "(train with qlora: true on the unquantized model, which is quantized only in memory)"
        )
    torch_dtype = _merge_dtype(dtype)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype)
    model = PeftModel.from_pretrained(model, str(adapter))
    merged = model.merge_and_unload()
    # the tokenizer saved with the adapter (its pad token and template), else the base's
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").exists() else model_path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)

    # a served model must stop at the end-of-turn token the adapter was trained to write
    eot_id = meta.get("end_of_turn_token_id")
    if eot_id is not None:
        eos = merged.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        if eot_id not in eos:
            merged.generation_config.eos_token_id = [*eos, eot_id] if eos else eot_id

    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        template = adapter / TEMPLATE_NAME
        if template.exists():
            shutil.copyfile(template, tmp / TEMPLATE_NAME)
        merged_meta = {
            "kind": "merged_model",
            "base_model": base,
            "adapter_dir": str(adapter.resolve()),
            "dtype": str(torch_dtype).removeprefix("torch."),
            "adapter": {
                k: meta[k] for k in ("data", "settings", "metrics", "chat_template_sha256") if k in meta
            },
            "end_of_turn_token": meta.get("end_of_turn_token"),
            "versions": _versions(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / META_NAME).write_text(json.dumps(merged_meta, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
