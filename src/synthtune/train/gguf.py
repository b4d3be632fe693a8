"""A transformers model folder written as one GGUF file, the format llama.cpp, Ollama and LM Studio read.

Written with the ``gguf`` package (pure Python, no llama.cpp checkout): architecture metadata, the
byte-level BPE tokenizer (vocabulary, merges, token types, special token ids), the exact chat template
the model was trained with, and the weights as f16, q8_0 or q4_0. Beside the file: an Ollama
``Modelfile``, a ``README.md`` that says how to run it, and ``manifest.json`` (source model, training,
sha256 of the file, versions).

Supported: ``LlamaForCausalLM`` (SmolLM2, Llama 2/3), ``MistralForCausalLM`` (written as llama.cpp's
``llama`` architecture, as llama.cpp itself does; a sliding window is not carried) and
``Qwen2ForCausalLM`` (``qwen2``). The tokenizer must be byte-level BPE (SmolLM2, Llama 3, Qwen2, Mistral
Nemo); a sentencepiece tokenizer (Llama 2, Mistral 7B) is refused with a clear error.

Two layout facts of GGUF's ``llama`` architecture: llama.cpp applies rotary embeddings to interleaved
pairs of each head's dimensions, where transformers rotates the two halves of the head, so the rows of
the query and key projections are reordered per head; ``qwen2`` rotates halves like transformers, so
its weights go in unchanged. A tied output head is written once, as the token embedding.

Quantization: 1-D tensors (norms, biases) stay float32. ``q8_0`` and ``q4_0`` quantize every 2-D weight
whose rows are whole 32-value blocks; ``q4_0`` keeps the token embedding and output head at ``q8_0``
(llama.cpp's own quantizer keeps the output head at higher precision too: it is the most sensitive
tensor). A weight whose rows are not whole blocks is written as f16.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthtune.chat import chat_format, render
from synthtune.errors import ModelNotFoundError, SynthtuneError

if TYPE_CHECKING:
    import numpy as np

    from synthtune.project import Project

QUANTS = ("f32", "f16", "q8_0", "q4_0")
ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
"""transformers class -> GGUF architecture."""
PERMUTES_QK = {"llama"}
"""GGUF architectures whose rotary embedding pairs interleaved dimensions (q/k rows reordered)."""

MODELFILE = "Modelfile"
README = "README.md"
MANIFEST = "manifest.json"

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PRE_BY_SPLIT = {_LLAMA3_SPLIT: "llama-bpe", _QWEN2_SPLIT: "qwen2"}
"""llama.cpp's name for a pre-tokenizer, by the split regex of the tokenizer.json it came from."""

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_KEEP_Q8 = {"token_embd.weight", "output.weight"}  # in q4_0 files


@dataclass(frozen=True)
class GGUFExport:
    """What :func:`export_gguf` wrote."""

    path: str
    quant: str
    architecture: str
    sha256: str
    size_bytes: int
    n_tensors: int
    seconds: float
    chat_template_sha256: str
    ollama_template: str | None  # "chatml" when the Modelfile carries a TEMPLATE, else None
    pre_tokenizer: str
    notes: tuple[str, ...] = ()  # what a user of the file should know (shown by the CLI)
    files: dict[str, str] = field(default_factory=dict)  # Modelfile, README.md, manifest.json

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Tensor:
    """One tensor of the file: where it comes from and how it is stored."""

    name: str  # GGUF name
    source: str  # safetensors key
    shape: tuple[int, ...]  # numpy order: (rows, columns)
    qtype: Any  # gguf.GGMLQuantizationType
    permute_heads: int | None  # reorder rows for interleaved rotary pairs, with this many heads


# ---------------------------------------------------------------------------------------------------
# The public entry points


def export_gguf(
    model_dir: str | Path,
    out_path: str | Path,
    quant: str = "f16",
    template: str | None = None,
    meta: dict[str, Any] | None = None,
) -> GGUFExport:
    """Write ``model_dir`` (a transformers folder: config, safetensors, tokenizer) to ``out_path``.

    ``template`` replaces the tokenizer's chat template (default: the tokenizer's own, which is the one
    :func:`synthtune.chat.chat_format` reads for training). ``meta`` goes into ``manifest.json`` as is
    (base model, adapter, training). The file appears under its final name only once it is complete:
    it is written to a temporary file in the same folder and renamed at the end.
    """
    if quant not in QUANTS:
        raise SynthtuneError(f"unknown GGUF quantization {quant!r}: pick one of {', '.join(QUANTS)}")
    source = Path(model_dir)
    out = Path(out_path)
    started = time.perf_counter()
    config = _load_config(source)
    arch = _architecture(config, source)
    tokenizer = _load_tokenizer(source)
    if template is not None:
        tokenizer.chat_template = template
    fmt = chat_format(tokenizer)
    vocab = _vocabulary(tokenizer, config.vocab_size)
    tensors = _plan(source, config, arch, quant)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise SynthtuneError(f"cannot write {out}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write(tmp, arch, config, tokenizer, fmt, vocab, tensors, quant, source, out.stem)
        sha256, size = _sha256(tmp), tmp.stat().st_size
        ollama = ollama_template(tokenizer)
        files = {
            MODELFILE: modelfile(out.name, fmt.end_of_turn, tokenizer.eos_token, ollama),
            README: readme(out.name, quant, ollama is not None),
        }
        result = GGUFExport(
            path=str(out.resolve()),
            quant=quant,
            architecture=arch,
            sha256=sha256,
            size_bytes=size,
            n_tensors=len(tensors),
            seconds=round(time.perf_counter() - started, 2),
            chat_template_sha256=fmt.template_sha256,
            ollama_template="chatml" if ollama else None,
            pre_tokenizer=vocab.pre,
            notes=_notes(vocab, ollama),
            files={name: str(out.parent / name) for name in (*files, MANIFEST)},
        )
        files[MANIFEST] = json.dumps(_manifest(result, source, meta or {}), indent=2, sort_keys=True) + "\n"
        for name, text in files.items():
            _write_text_atomic(out.parent / name, text)
        os.replace(tmp, out)
    except OSError as exc:
        raise SynthtuneError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return result


def export_model(
    project: Project,
    fmt: str = "gguf",
    quant: str = "f16",
    model: str | Path | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """``synthtune export-model``: the latest merged model (or ``model``) as a GGUF file, recorded in the
    store. The default file is ``<project>/gguf/<quant>/<name>-<quant>.gguf``."""
    if fmt != "gguf":
        raise SynthtuneError(f"unknown model format {fmt!r}: only gguf is supported")
    if model is not None:
        source = Path(model)
    else:
        merge = project.store.latest_merge()
        if merge is None:
            raise SynthtuneError("no merged model in this project: run `synthtune merge` or pass --model DIR")
        source = Path(merge.merged_path)
    if not (source / "config.json").exists():
        raise ModelNotFoundError(f"{source} is not a transformers model folder (no config.json)")
    merged_meta = _read_json(source / "synthtune_meta.json")
    adapter = merged_meta.get("adapter_dir")
    training = project.store.latest_training(adapter) if adapter else None
    name = _safe_name(project.dir.resolve().name or "model")
    target = Path(out) if out else project.dir / "gguf" / quant / f"{name}-{quant}.gguf"
    trained_with = merged_meta.get("adapter", {})
    meta = {
        "base_model": merged_meta.get("base_model"),
        "adapter": adapter,
        "training_id": training.id if training else None,
        "training_data": trained_with.get("data"),
        "training_chat_template_sha256": trained_with.get("chat_template_sha256"),
    }
    result = export_gguf(source, target, quant=quant, meta=meta)
    export_id = project.store.record_model_export(
        fmt, quant, result.path, result.sha256, result.size_bytes, str(source.resolve()),
        training.id if training else None,
    )  # fmt: skip
    return {"id": export_id, "source_model": str(source.resolve()), **result.to_dict()}


# ---------------------------------------------------------------------------------------------------
# Reading the source folder


def _load_config(source: Path) -> Any:
    from transformers import AutoConfig

    if not (source / "config.json").exists():
        raise ModelNotFoundError(f"{source} is not a transformers model folder (no config.json)")
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read the config of {source}: {exc}") from None


def _architecture(config: Any, source: Path) -> str:
    names = list(getattr(config, "architectures", None) or [])
    supported = [ARCHITECTURES[n] for n in names if n in ARCHITECTURES]
    if not supported:
        found = ", ".join(names) or f"model_type {config.model_type!r}"
        raise SynthtuneError(
            f"{source}: GGUF export supports {', '.join(ARCHITECTURES)}; this model is {found}"
        )
    if getattr(config, "quantization_config", None):
        raise SynthtuneError(f"{source} is stored quantized; export the full-precision merged model")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise SynthtuneError(f"{source}: llama models with attention or MLP biases are not supported")
    rope = _rope(config)
    if rope.get("rope_type", "default") not in ("default", "linear", "llama3"):
        raise SynthtuneError(f"{source}: rope scaling {rope['rope_type']!r} is not supported in GGUF export")
    return supported[0]


def _rope(config: Any) -> dict[str, Any]:
    """The rotary settings, from transformers 5's ``rope_parameters`` (or the older attributes)."""
    params = getattr(config, "rope_parameters", None)
    if params:
        return dict(params)
    scaling = dict(getattr(config, "rope_scaling", None) or {})
    scaling.setdefault("rope_type", scaling.get("type", "default"))
    return {"rope_theta": getattr(config, "rope_theta", 10000.0), **scaling}


def _load_tokenizer(source: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load the tokenizer of {source}: {exc}") from None


@dataclass(frozen=True)
class _Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    add_bos: bool


def _vocabulary(tokenizer: Any, vocab_size: int) -> _Vocab:
    """The byte-level BPE vocabulary as llama.cpp's ``gpt2`` tokenizer model reads it, padded to the
    model's embedding rows with unused tokens."""
    from gguf import TokenType

    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback") or not _is_byte_level(spec):
        raise SynthtuneError(
            f"the tokenizer of {tokenizer.name_or_path!r} is not byte-level BPE (SmolLM2, Llama 3, Qwen2 "
            "use one); GGUF export of sentencepiece tokenizers is not supported yet"
        )
    by_id = {i: t for t, i in backend.get_vocab(with_added_tokens=True).items()}
    size = max(vocab_size, max(by_id) + 1)
    added = {int(i): t for i, t in tokenizer.added_tokens_decoder.items()}
    tokens, types = [], []
    for i in range(size):
        if i in by_id:
            tokens.append(by_id[i])
            if i in added:
                types.append(TokenType.CONTROL if added[i].special else TokenType.USER_DEFINED)
            else:
                types.append(TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    add_bos = tokenizer.bos_token_id is not None and bool(probe) and probe[0] == tokenizer.bos_token_id
    return _Vocab(tokens, [int(t) for t in types], merges, _pre_tokenizer(spec.get("pre_tokenizer")), add_bos)


def _is_byte_level(spec: dict[str, Any]) -> bool:
    return '"ByteLevel"' in json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])


def _pre_tokenizer(pre: dict[str, Any] | None) -> str:
    """llama.cpp's name for the way text is split before BPE (it picks its split regex by this name)."""
    steps = (pre or {}).get("pretokenizers") if (pre or {}).get("type") == "Sequence" else [pre or {}]
    kinds = [s.get("type") for s in steps or []]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    for step in steps or []:
        if step.get("type") == "Split":
            regex = (step.get("pattern") or {}).get("Regex")
            if regex in _PRE_BY_SPLIT:
                return _PRE_BY_SPLIT[regex]
    return "default"


def _notes(vocab: _Vocab, ollama: OllamaChat | None) -> tuple[str, ...]:
    notes = []
    if vocab.pre == "default":
        notes.append(
            "the tokenizer splits text in a way llama.cpp has no name for: written as 'default' (llama.cpp's "
            "generic split), so llama.cpp may tokenize some text differently from training"
        )
    if ollama is None:
        notes.append(
            "the chat template is not ChatML: the Modelfile has no TEMPLATE and Ollama falls back on the "
            "template stored in the file"
        )
    return tuple(notes)


def _shards(source: Path) -> dict[str, Path]:
    """safetensors key -> the file holding it."""
    index = source / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {key: source / name for key, name in weight_map.items()}
    single = source / "model.safetensors"
    if not single.exists():
        raise ModelNotFoundError(f"{source} holds no safetensors weights (model.safetensors is missing)")
    from safetensors import safe_open

    with safe_open(single, framework="pt") as f:
        return dict.fromkeys(f.keys(), single)


def _plan(source: Path, config: Any, arch: str, quant: str) -> list[_Tensor]:
    """Every tensor of the file, in the order it is written, from the safetensors headers alone."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from safetensors import safe_open

    shards = _shards(source)
    shapes: dict[str, tuple[int, ...]] = {}
    for path in sorted(set(shards.values())):
        with safe_open(path, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - a safetensors handle is not a dict
                shapes[key] = tuple(f.get_slice(key).get_shape())
    tied = bool(getattr(config, "tie_word_embeddings", False)) or "lm_head.weight" not in shapes
    planned = []
    for key in sorted(shapes, key=_source_order):
        if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
            continue
        name = _gguf_name(key)
        if name is None:
            raise SynthtuneError(f"{source}: tensor {key!r} has no place in a GGUF {arch} model")
        shape = shapes[key]
        qtype = _qtype(name, shape, quant, GGMLQuantizationType, GGML_QUANT_SIZES)
        permute = None
        if arch in PERMUTES_QK and name.endswith(("attn_q.weight", "attn_k.weight")):
            permute = config.num_attention_heads if "attn_q" in name else config.num_key_value_heads
        planned.append(_Tensor(name, key, shape, qtype, permute))
    if _rope(config).get("rope_type") == "llama3":
        planned.append(
            _Tensor("rope_freqs.weight", "", (_head_dim(config) // 2,), GGMLQuantizationType.F32, None)
        )
    return planned


def _source_order(key: str) -> tuple[int, int, str]:
    m = _LAYER.match(key)
    if m:
        return (1, int(m.group(1)), m.group(2))
    return (0 if "embed" in key else 2, 0, key)


def _gguf_name(key: str) -> str | None:
    if key in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[key]
    m = _LAYER.match(key)
    if m and m.group(2) in _LAYER_NAMES:
        return f"blk.{m.group(1)}.{_LAYER_NAMES[m.group(2)]}"
    return None


def _qtype(name: str, shape: tuple[int, ...], quant: str, types: Any, sizes: dict) -> Any:
    if len(shape) < 2:
        return types.F32
    if quant == "f32":
        return types.F32  # the merged float32 weights unchanged: greedy outputs equal the source's
    wanted = {"f16": types.F16, "q8_0": types.Q8_0, "q4_0": types.Q4_0}[quant]
    if quant == "q4_0" and name in _KEEP_Q8:
        wanted = types.Q8_0
    if wanted != types.F16 and shape[-1] % sizes[wanted][0]:
        return types.F16  # rows that are not whole quantization blocks
    return wanted


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


# ---------------------------------------------------------------------------------------------------
# Writing


def _write(
    path: Path, arch: str, config: Any, tokenizer: Any, fmt: Any, vocab: _Vocab, tensors: list[_Tensor],
    quant: str, source: Path, name: str,
) -> None:  # fmt: skip
    """The whole file, streamed: header, metadata and tensor index first, then one tensor at a time."""
    import gguf

    writer = gguf.GGUFWriter(path, arch)
    try:
        _metadata(writer, config, tokenizer, fmt, vocab, quant, source, name)
        for t in tensors:
            nbytes = _nbytes(t)
            writer.add_tensor_info(t.name, t.shape, _np_dtype(t.qtype), nbytes, raw_dtype=_raw(t.qtype))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in _tensor_data(source, config, tensors):
            writer.write_tensor_data(data)
        for fout in writer.fout or []:
            fout.flush()
            os.fsync(fout.fileno())
    finally:
        writer.close()


def _metadata(
    writer: Any, config: Any, tokenizer: Any, fmt: Any, vocab: _Vocab, quant: str, source: Path, name: str
) -> None:
    from gguf import LlamaFileType, RopeScalingType

    from synthtune import __version__

    head_dim = _head_dim(config)
    writer.add_type("model")
    writer.add_name(name)
    writer.add_description(f"written by synthtune {__version__} from {source.resolve().name}")
    writer.add_file_type(
        {
            "f32": LlamaFileType.ALL_F32,
            "f16": LlamaFileType.MOSTLY_F16,
            "q8_0": LlamaFileType.MOSTLY_Q8_0,
            "q4_0": LlamaFileType.MOSTLY_Q4_0,
        }[quant]
    )
    if quant not in ("f32", "f16"):
        writer.add_quantization_version(2)
    writer.add_vocab_size(len(vocab.tokens))
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    rope = _rope(config)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // config.num_attention_heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    for add, token_id in (
        (writer.add_bos_token_id, tokenizer.bos_token_id),
        (writer.add_eos_token_id, tokenizer.eos_token_id),
        (writer.add_unk_token_id, tokenizer.unk_token_id),
        (writer.add_pad_token_id, tokenizer.pad_token_id),
        (writer.add_eot_token_id, fmt.end_of_turn_id),
    ):
        if token_id is not None:
            add(int(token_id))
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    writer.add_chat_template(fmt.template)


def _nbytes(t: _Tensor) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[t.qtype]
    return math.prod(t.shape) // block * size


def _np_dtype(qtype: Any) -> Any:
    import numpy as np
    from gguf import GGMLQuantizationType

    return {GGMLQuantizationType.F32: np.float32, GGMLQuantizationType.F16: np.float16}.get(qtype, np.float32)


def _raw(qtype: Any) -> Any:
    from gguf import GGMLQuantizationType

    return None if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16) else qtype


def _tensor_data(source: Path, config: Any, tensors: list[_Tensor]) -> Iterator[np.ndarray]:
    """Each planned tensor's bytes, loaded from its shard only when it is written."""
    import numpy as np
    from safetensors import safe_open

    shards = _shards(source)
    with contextlib.ExitStack() as stack:
        opened: dict[Path, Any] = {}
        for t in tensors:
            if t.name == "rope_freqs.weight":
                yield _llama3_rope_factors(config)
                continue
            path = shards[t.source]
            if path not in opened:
                opened[path] = stack.enter_context(safe_open(path, framework="pt"))
            data = opened[path].get_tensor(t.source).float().numpy()
            if t.permute_heads:
                data = _interleave_rotary(data, t.permute_heads)
            yield np.ascontiguousarray(_quantize(data, t.qtype))


def _quantize(data: np.ndarray, qtype: Any) -> np.ndarray:
    from gguf.quants import quantize

    return quantize(data, qtype)


def _interleave_rotary(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a query/key projection reordered per head from transformers' halves layout
    (x0..x(d/2-1), then the partners) to llama.cpp's interleaved pairs (x0, partner0, x1, ...)."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _llama3_rope_factors(config: Any) -> np.ndarray:
    """Llama 3.1's per-frequency rotary scaling, which llama.cpp reads from a ``rope_freqs`` tensor."""
    import numpy as np

    rope = _rope(config)
    dim = _head_dim(config)
    factor = float(rope["factor"])
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / (float(rope["rope_theta"]) ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


# ---------------------------------------------------------------------------------------------------
# Ollama and the files beside the model


_PROBES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("user", "What was revenue in 2024?"),),
    (("system", "Answer from the filings."), ("user", "What was revenue in 2024?")),
    (("user", "First question?"), ("assistant", "First answer."), ("user", "Second question?")),
    (
        ("system", "Be brief."),
        ("user", "First question?"),
        ("assistant", "First answer [1]."),
        ("user", "Second\nquestion?"),
    ),
)
CHATML_GO = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
"""Ollama's Go template for ChatML: each message as a turn, then the assistant's open turn."""


def _chatml(messages: list[dict[str, str]]) -> str:
    """What :data:`CHATML_GO` renders for ``messages`` (the check that it equals the chat template)."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def default_system(tokenizer: Any) -> str | None:
    """The system prompt the chat template adds when a conversation has none (SmolLM2's does)."""
    text = render(tokenizer, [{"role": "user", "content": "x"}], add_generation_prompt=True)
    m = re.match(r"<\|im_start\|>system\n(.*?)<\|im_end\|>\n", text, re.DOTALL)
    return m.group(1) if m else None


@dataclass(frozen=True)
class OllamaChat:
    """The Modelfile's TEMPLATE and SYSTEM that say what the model's chat template says."""

    template: str
    system: str | None


def ollama_template(tokenizer: Any) -> OllamaChat | None:
    """:data:`CHATML_GO` when it renders every probe conversation exactly as the chat template does
    (with the template's default system prompt as the Modelfile's SYSTEM), else None."""
    try:
        system = default_system(tokenizer)
        for probe in _PROBES:
            messages = [{"role": r, "content": c} for r, c in probe]
            ollama_messages = messages
            if system is not None and messages[0]["role"] != "system":
                ollama_messages = [{"role": "system", "content": system}, *messages]
            if render(tokenizer, messages, add_generation_prompt=True) != _chatml(ollama_messages):
                return None
    except Exception:  # noqa: BLE001 - a template that refuses a probe conversation is not ChatML
        return None
    return OllamaChat(CHATML_GO, system)


def modelfile(gguf_name: str, end_of_turn: str, eos: str | None, chat: OllamaChat | None) -> str:
    """An Ollama Modelfile for the file: its template and default system prompt (ChatML templates), the
    stop tokens, and greedy decoding (what synthtune evaluated)."""
    lines = [f"FROM ./{gguf_name}", ""]
    if chat is not None:
        lines.append(f'TEMPLATE """{chat.template}"""')
        if chat.system:
            lines.append(f'SYSTEM """{chat.system}"""')
    else:
        lines += ["# the chat template is not ChatML: Ollama reads the one stored in the GGUF file"]
    lines.append("")
    for stop in dict.fromkeys(t for t in (end_of_turn, eos) if t):
        lines.append(f'PARAMETER stop "{stop}"')
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"


def readme(gguf_name: str, quant: str, has_template: bool) -> str:
    stem = Path(gguf_name).stem
    return f"""# {stem}

A model fine-tuned and exported by synthtune: `{gguf_name}` ({quant}), a GGUF file with the chat template
it was trained with. `manifest.json` says what it was made from and holds the file's sha256.

## Run it

- llama.cpp: `llama-cli -m {gguf_name} -cnv` (chat, using the template in the file), or
  `llama-server -m {gguf_name} --port 8080` for an OpenAI-compatible API at `http://localhost:8080/v1`.
- Ollama: `ollama create {stem.lower()} -f Modelfile && ollama run {stem.lower()}` (the Modelfile
  {"sets the template, the default system prompt" if has_template else "relies on the template in the file"}
  and stops at the end-of-turn token); its API is at `http://localhost:11434/v1`.
- LM Studio: copy the file into a folder under `~/.lmstudio/models/` (e.g. `synthtune/{stem}/`), or
  `lms import {gguf_name}`, then load it; the chat template comes from the file.

Decoding is greedy (temperature 0) in the Modelfile, as synthtune evaluated the model.
"""


def _manifest(result: GGUFExport, source: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import transformers

    from synthtune import __version__

    return {
        "kind": "gguf_export",
        "file": Path(result.path).name,
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "quant": result.quant,
        "architecture": result.architecture,
        "n_tensors": result.n_tensors,
        "pre_tokenizer": result.pre_tokenizer,
        "notes": list(result.notes),
        "chat_template_sha256": result.chat_template_sha256,
        "ollama_template": result.ollama_template,
        "source_model": str(source.resolve()),
        **meta,
        "versions": {
            "synthtune": __version__,
            "gguf": _dist_version("gguf"),
            "transformers": transformers.__version__,
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
