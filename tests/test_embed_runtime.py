"""The embedder on ONNX Runtime: same model, vectors within cosine 0.99 of torch's, exported once from the
local weights and cached by their sha256; and a passage already embedded for any document is not
embedded again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write

from synthtune.config import EmbeddingSettings
from synthtune.embed import Embedder, OnnxEncoder, _pooling, onnx_model_file, resolve_runtime
from synthtune.errors import ModelNotFoundError
from synthtune.hardware import cpu_has_amx

PASSAGES = [
    "Revenue was $152.2 million in the third quarter, up 24.9% year over year.",
    "Gross margin reached 43.4%, and operating income was $9.4 million.",
    "CEO: We opened a new factory in Reno, Nevada, and signed Northwind Grocers as a customer.",
    "The board declared a quarterly dividend of $0.92 per share, payable in April.",
    "Net cash provided by operating activities was $1.1 billion for the fiscal year. " * 8,
]


@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.99)])
def test_onnx_vectors_match_torch(embedder, runtime: str, floor: float) -> None:
    onnx = Embedder(EmbeddingSettings(runtime=runtime))

    got, want = onnx.encode(PASSAGES), embedder.encode(PASSAGES)

    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() >= floor
    assert onnx.info() == embedder.info()  # the same model, as the store records it
    query = onnx.encode_query("quarterly dividend")
    assert int(np.argmax(onnx.encode(PASSAGES) @ query)) == 3


@pytest.mark.slow
def test_bfloat16_vectors_match_float32_and_queries_stay_float32() -> None:
    bf16 = Embedder(EmbeddingSettings(runtime="torch-bf16"))
    embedder = Embedder(EmbeddingSettings(runtime="torch"))

    got, want = bf16.encode(PASSAGES), embedder.encode(PASSAGES)

    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() >= 0.9999
    assert not np.array_equal(got, want)  # the products did run in bfloat16
    assert bf16.info() == embedder.info()
    # one short query is faster in float32: it gets exactly torch's vector
    assert np.array_equal(
        bf16.encode_query("quarterly dividend"), embedder.encode_query("quarterly dividend")
    )


def test_auto_runs_bfloat16_only_on_a_cpu_with_amx() -> None:
    expected = "torch-bf16" if cpu_has_amx() else "torch"

    assert resolve_runtime(EmbeddingSettings()) == expected  # auto is the default
    assert resolve_runtime(EmbeddingSettings(runtime="auto", device="cuda")) == "torch"
    for chosen in ("torch", "torch-bf16", "onnx-int8"):
        assert resolve_runtime(EmbeddingSettings(runtime=chosen)) == chosen


@pytest.mark.slow
def test_the_export_is_cached_by_the_weights(embedder) -> None:
    folder = Path(embedder.path)
    first = onnx_model_file(folder, quantized=True)
    stamp = first.stat().st_mtime_ns

    again = onnx_model_file(folder, quantized=True)

    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.parent.parent.name == "onnx" and (first.parent / "model.onnx").exists()


def test_models_onnx_cannot_run_are_refused_with_the_way_out(tmp_path: Path) -> None:
    write(
        tmp_path / "modules.json",
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "x.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "x.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Dense", "type": "x.models.Dense"},
            ]
        ),
    )

    with pytest.raises(ModelNotFoundError, match="use embedding.runtime: torch"):
        _pooling(tmp_path)


@pytest.mark.slow
def test_a_bert_models_export_is_fused_before_it_is_quantized(embedder) -> None:
    import onnx

    int8 = onnx.load(str(onnx_model_file(Path(embedder.path), quantized=True)))
    ops = {node.op_type for node in int8.graph.node}
    # one attention kernel per layer instead of matmul/softmax chains: the speed of onnx-int8 rests on it
    assert {"QAttention", "SkipLayerNormalization", "BiasGelu"} <= ops
    assert "Softmax" not in ops


def test_a_process_thread_limit_holds_for_onnx_runtime(embedder, monkeypatch) -> None:
    from synthtune.embed import _load_onnx

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _load_onnx.cache_clear()
    try:
        limited = _load_onnx(embedder.path, True).session.get_session_options().intra_op_num_threads
    finally:
        _load_onnx.cache_clear()
    assert limited == 1


def test_mean_pooling_ignores_padding_and_keeps_the_order() -> None:
    class Session:
        def get_inputs(self):
            return [type("I", (), {"name": n})() for n in ("input_ids", "attention_mask")]

        def run(self, _outputs, feeds):
            ids = feeds["input_ids"].astype(np.float32)
            return [np.stack([ids, np.ones_like(ids)], axis=-1)]  # hidden state: (token id, 1)

    def tokenizer(texts, **_kw):
        ids = [[len(w) for w in t.split()] for t in texts]
        width = max(map(len, ids))
        return {
            "input_ids": np.array([r + [0] * (width - len(r)) for r in ids]),
            "attention_mask": np.array([[1] * len(r) + [0] * (width - len(r)) for r in ids]),
        }

    out = OnnxEncoder(Session(), "mean", 2).encode(["aaa", "a a a a", "bb bb"], tokenizer, 8, batch_size=2)

    expected = np.array([[3, 1], [1, 1], [2, 1]], dtype=np.float32)
    assert np.allclose(out, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_a_passage_already_embedded_for_another_document_is_not_embedded_again(
    make_project, tmp_path
) -> None:
    shared = "Forward-looking statements involve risks and uncertainties that could cause results to differ."
    a = write(tmp_path / "a.txt", f"Alpha revenue grew 10 percent.\n\n{shared}")
    b = write(tmp_path / "b.txt", f"Beta revenue fell 3 percent.\n\n{shared}")
    p = make_project(
        {"ingest": {"chunk_size": 16, "chunk_overlap": 0}, "embedding": {"contextual_header": False}}
    )

    first = p.ingest([a])
    second = p.ingest([b])

    assert first.embedded == first.chunks == 2
    assert (second.chunks, second.embedded) == (2, 1)  # the boilerplate's vector came from the cache
