"""GGUF export on tiny random llama-family models built in code: the file read back with the gguf
reader and with transformers' GGUF loader, outputs compared with the source model, the chat template and
the Ollama Modelfile, bad input (unsupported architecture, a failure mid-write, a full disk) and the
project entry point. One slow test exports the bundled SmolLM2."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    MistralConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

from synthtune.chat import render
from synthtune.config import parse_settings
from synthtune.errors import SynthtuneError
from synthtune.project import Project
from synthtune.train import gguf as gguf_mod
from synthtune.train.gguf import CHATML_GO, export_gguf, export_model, ollama_template

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Stark",
    "Wayne",
    "Tyrell",
]
METRICS = ["revenue", "operating margin"]
PROMPTS = [
    [
        {"role": "system", "content": "Answer from the filings."},
        {"role": "user", "content": f"What was {c}'s {m}?"},
    ]
    for c in COMPANIES
    for m in METRICS
]  # 20 prompts
ANSWERS = [f"{c}'s {m} was ${10 + 7 * i % 90}.{i % 10} million." for i, (c, m) in enumerate(
    (c, m) for c in COMPANIES for m in METRICS)]  # fmt: skip
CLASSES = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run many times faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    corpus = [m["content"] for p in PROMPTS for m in p] + ["system user assistant million quarter was the"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHATML
    return tok


def save_tiny(path: Path, tokenizer, kind: str = "llama", **overrides) -> Path:
    """A tiny model of ``kind`` (2 layers, hidden 64), fitted to answer the 20 prompts, saved like any
    local model.

    Fitted rather than random: a random model's next-token scores are near-ties everywhere, so any
    rounding flips its choices, while a tuned model (what is exported) is confident where it answers."""
    kw = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    config = CLASSES[kind](**(kw | overrides))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fit(model, tokenizer)
    model.generation_config.do_sample = False
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def fit(model, tokenizer, steps: int = 60) -> None:
    """A few full-batch AdamW steps on the 20 conversations."""
    texts = [
        render(tokenizer, [*p, {"role": "assistant", "content": a}])
        for p, a in zip(PROMPTS, ANSWERS, strict=True)
    ]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def tiny_dir(tokenizer, tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-llama"), tokenizer)


@pytest.fixture(scope="module")
def exported(tiny_dir, tmp_path_factory) -> dict[str, gguf_mod.GGUFExport]:
    out = tmp_path_factory.mktemp("gguf")
    return {
        q: export_gguf(tiny_dir, out / q / f"tiny-{q}.gguf", quant=q) for q in ("f32", "f16", "q8_0", "q4_0")
    }


def load_gguf(path: str | Path):
    p = Path(path)
    return AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, dtype=torch.float32).eval()


def prompt_ids(tokenizer, messages) -> torch.Tensor:
    return torch.tensor([tokenizer(render(tokenizer, messages, add_generation_prompt=True))["input_ids"]])


def greedy(model, ids: torch.Tensor, n: int) -> list[int]:
    """``n`` greedy tokens (on past the end of turn: every position is compared)."""
    out, past, step = [], None, ids
    with torch.no_grad():
        for _ in range(n):
            result = model(step, cache=past, use_cache=True)
            past = result.cache
            out.append(int(result.logits[0, -1].argmax()))
            step = torch.tensor([[out[-1]]])
    return out


def top1_agreement(reference, candidate, tokenizer, n_tokens: int = 200) -> float:
    """Share of positions where ``candidate`` predicts the token ``reference`` generated greedily
    (teacher-forced on the reference's text: one disagreement does not derail the rest)."""
    agree = total = 0
    per_prompt = n_tokens // len(PROMPTS)
    for messages in PROMPTS:
        ids = prompt_ids(tokenizer, messages)
        generated = torch.tensor([greedy(reference, ids, per_prompt)])
        full = torch.cat([ids, generated], dim=1)
        with torch.no_grad():
            logits = candidate(full).logits[0, ids.shape[1] - 1 : -1]
        agree += int((logits.argmax(-1) == generated[0]).sum())
        total += per_prompt
    return agree / total


# ---------------------------------------------------------------------------------------------------
# Round trip


def test_file_reads_back_with_its_metadata_and_tensors(exported, tiny_dir, tokenizer):
    reader = gguf.GGUFReader(exported["f16"].path)
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert field("general.architecture") == "llama"
    assert (
        field("llama.block_count"),
        field("llama.embedding_length"),
        field("llama.feed_forward_length"),
    ) == (2, 64, 128)
    assert (field("llama.attention.head_count"), field("llama.attention.head_count_kv")) == (4, 2)
    assert field("llama.rope.dimension_count") == 16 and field("llama.context_length") == 256
    assert field("tokenizer.ggml.model") == "gpt2" and field("tokenizer.ggml.pre") == "gpt-2"
    assert len(field("tokenizer.ggml.tokens")) == len(tokenizer)
    assert field("tokenizer.ggml.tokens")[tokenizer.eos_token_id] == "<|im_end|>"
    assert field("tokenizer.chat_template") == CHATML
    assert field("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert field("tokenizer.ggml.eot_token_id") == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert field("tokenizer.ggml.padding_token_id") == tokenizer.pad_token_id
    assert field("tokenizer.ggml.bos_token_id") == tokenizer.bos_token_id
    types = field("tokenizer.ggml.token_type")
    assert {types[tokenizer.convert_tokens_to_ids(t)] for t in SPECIAL} == {gguf.TokenType.CONTROL}

    # 2 layers x 9 tensors + embedding, output norm, output head; numpy shapes as in the source
    source = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 2 * 9 + 3 == exported["f16"].n_tensors
    assert tuple(tensors["token_embd.weight"].shape[::-1]) == tuple(source["model.embed_tokens.weight"].shape)
    assert tuple(tensors["blk.1.attn_k.weight"].shape[::-1]) == tuple(
        source["model.layers.1.self_attn.k_proj.weight"].shape
    )
    assert tensors["blk.0.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    q4 = {t.name: t.tensor_type for t in gguf.GGUFReader(exported["q4_0"].path).tensors}
    assert q4["blk.0.ffn_up.weight"] == gguf.GGMLQuantizationType.Q4_0
    assert q4["output.weight"] == q4["token_embd.weight"] == gguf.GGMLQuantizationType.Q8_0


def test_f16_file_loads_in_transformers_and_matches_the_source(exported, tiny_dir, tokenizer):
    source = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    loaded = load_gguf(exported["f16"].path)
    # layout: the loaded matrices are the source's rounded to float16 (norms stay float32), so the
    # logits agree to float32 noise
    rounded = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        for p in rounded.parameters():
            if p.ndim == 2:
                p.copy_(p.half().float())
        ids = prompt_ids(tokenizer, PROMPTS[0])
        torch.testing.assert_close(loaded(ids).logits, rounded(ids).logits, atol=1e-5, rtol=1e-5)
    # behaviour: greedy answers to 20 prompts are the source model's, token for token
    for messages in PROMPTS:
        ids = prompt_ids(tokenizer, messages)
        assert greedy(loaded, ids, 12) == greedy(source, ids, 12), messages


def test_f32_file_holds_the_source_weights_exactly(exported, tiny_dir, tokenizer):
    source = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    loaded = load_gguf(exported["f32"].path)
    with torch.no_grad():
        ids = prompt_ids(tokenizer, PROMPTS[0])
        torch.testing.assert_close(loaded(ids).logits, source(ids).logits, atol=1e-6, rtol=1e-6)
    assert exported["f32"].size_bytes > exported["f16"].size_bytes


def test_q8_0_agrees_on_the_top_token(exported, tiny_dir, tokenizer):
    source = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    assert top1_agreement(source, load_gguf(exported["q8_0"].path), tokenizer) >= 0.98
    # q4_0 is reported by the benchmark; here it only has to load and mostly agree
    assert top1_agreement(source, load_gguf(exported["q4_0"].path), tokenizer) >= 0.5
    sizes = [exported[q].size_bytes for q in ("f16", "q8_0", "q4_0")]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("kind", ["mistral", "qwen2"])
def test_mistral_and_qwen2_round_trip(kind, tokenizer, tmp_path):
    extra = {"sliding_window": None} if kind == "mistral" else {"tie_word_embeddings": True}
    source_dir = save_tiny(tmp_path / "model", tokenizer, kind, **extra)
    # (transformers' GGUF loader fails on a llama file whose name says "mistral": the file is named m.gguf)
    result = export_gguf(source_dir, tmp_path / "out" / "m.gguf", quant="f16")
    assert result.architecture == {"mistral": "llama", "qwen2": "qwen2"}[kind]
    source = AutoModelForCausalLM.from_pretrained(source_dir, dtype=torch.float32).eval()
    loaded = load_gguf(result.path)
    for messages in PROMPTS[:5]:
        ids = prompt_ids(tokenizer, messages)
        assert greedy(loaded, ids, 12) == greedy(source, ids, 12)
    if kind == "qwen2":  # the tied head is written once, the q/k/v biases are kept
        names = {t.name for t in gguf.GGUFReader(result.path).tensors}
        assert "output.weight" not in names and "blk.0.attn_q.bias" in names


# ---------------------------------------------------------------------------------------------------
# The chat template, the tokenizer and the Modelfile


def test_template_in_the_file_renders_the_training_prompt(exported, tokenizer):
    path = Path(exported["f16"].path)
    from_file = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    conversation = [*PROMPTS[3], {"role": "assistant", "content": "Initech's revenue was $12.5 million [1]."}]
    for messages, gen in ((conversation, False), (PROMPTS[3], True)):
        text = render(tokenizer, messages, add_generation_prompt=gen)
        assert render(from_file, messages, add_generation_prompt=gen) == text
        assert from_file(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert from_file.eos_token == "<|im_end|>"


def test_modelfile_readme_and_manifest_beside_the_file(exported):
    result = exported["q8_0"]
    assert result.notes == () and result.ollama_template == "chatml"
    folder = Path(result.path).parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "Modelfile",
        "README.md",
        "manifest.json",
        "tiny-q8_0.gguf",
    ]
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./tiny-q8_0.gguf\n")
    assert f'TEMPLATE """{CHATML_GO}"""' in modelfile and "SYSTEM" not in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER temperature 0" in modelfile
    assert "llama-cli -m tiny-q8_0.gguf" in (folder / "README.md").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == result.sha256 == gguf_mod._sha256(Path(result.path))
    assert manifest["size_bytes"] == Path(result.path).stat().st_size and manifest["quant"] == "q8_0"


def test_ollama_template_only_for_chatml(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    smol = AutoTokenizer.from_pretrained(tmp_path)
    smol.chat_template = (
        "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}"
        "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    chat = ollama_template(smol)
    assert chat is not None and chat.template == CHATML_GO and chat.system == "You are helpful."
    smol.chat_template = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
    assert ollama_template(smol) is None


# ---------------------------------------------------------------------------------------------------
# Bad input: one clear line, nothing left under the final name


def test_unsupported_architecture_is_named(tokenizer, tmp_path):
    src = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2)).save_pretrained(
        src
    )
    tokenizer.save_pretrained(src)
    out = tmp_path / "out" / "m.gguf"
    with pytest.raises(SynthtuneError, match="GPT2LMHeadModel") as err:
        export_gguf(src, out)
    assert "\n" not in str(err.value) and not out.parent.exists()
    with pytest.raises(SynthtuneError, match="q5_k"):
        export_gguf(src, out, quant="q5_k")


def test_sentencepiece_tokenizer_is_refused_clearly(tiny_dir, tmp_path):
    spm = Tokenizer(
        models.BPE(vocab={"<unk>": 0, "\u2581": 1, "a": 2}, merges=[], unk_token="<unk>", byte_fallback=True)
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=spm, unk_token="<unk>", eos_token="<|im_end|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = CHATML
    src = tmp_path / "spm"
    shutil.copytree(tiny_dir, src)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        (src / name).unlink(missing_ok=True)
    tok.save_pretrained(src)
    with pytest.raises(SynthtuneError, match="not byte-level BPE.*sentencepiece"):
        export_gguf(src, tmp_path / "out" / "m.gguf")
    assert not (tmp_path / "out").exists()


def test_pre_tokenizer_names_follow_llama_cpp():
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    split = lambda regex: {"type": "Sequence", "pretokenizers": [  # noqa: E731
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}  # fmt: skip
    digits = {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level],
    }
    assert gguf_mod._pre_tokenizer(byte_level) == "gpt-2"
    assert gguf_mod._pre_tokenizer(digits) == "smollm"
    assert gguf_mod._pre_tokenizer(split(gguf_mod._LLAMA3_SPLIT)) == "llama-bpe"
    assert gguf_mod._pre_tokenizer(split(gguf_mod._QWEN2_SPLIT)) == "qwen2"
    assert gguf_mod._pre_tokenizer(split(r"\s+")) == "default"


def test_llama3_rope_factors_match_transformers(tokenizer, tmp_path):
    """llama.cpp divides each rotary frequency by ``rope_freqs``: the ratio of plain to llama3 frequencies."""
    from transformers.modeling_rope_utils import _compute_llama3_parameters

    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192, "rope_theta": 500000.0}  # fmt: skip
    config = LlamaConfig(hidden_size=256, num_attention_heads=4, rope_parameters=rope)
    scaled, _ = _compute_llama3_parameters(config)
    plain = 1.0 / (500000.0 ** (torch.arange(0, 64, 2, dtype=torch.float64) / 64))
    factors = torch.from_numpy(gguf_mod._llama3_rope_factors(config))
    torch.testing.assert_close(factors, (plain / scaled.double()).float())
    assert factors[0] == 1.0 and factors[-1] == 8.0

    small = rope | {"original_max_position_embeddings": 64}  # so that the tiny model's frequencies are scaled
    source = save_tiny(tmp_path / "m", tokenizer, rope_parameters=small)
    result = export_gguf(source, tmp_path / "out" / "m.gguf")
    tensors = {t.name: t for t in gguf.GGUFReader(result.path).tensors}
    expected = gguf_mod._llama3_rope_factors(AutoConfig.from_pretrained(source))
    np.testing.assert_array_equal(tensors["rope_freqs.weight"].data, expected)
    assert len(set(expected.tolist())) > 2  # scaled, partly scaled and untouched frequencies


def test_failure_mid_write_leaves_no_file(tiny_dir, tmp_path, monkeypatch):
    calls = []

    def failing(data, qtype):
        calls.append(qtype)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return gguf.quants.quantize(data, qtype)

    monkeypatch.setattr(gguf_mod, "_quantize", failing)
    out = tmp_path / "m.gguf"
    with pytest.raises(RuntimeError, match="boom"):
        export_gguf(tiny_dir, out)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_one_line_and_leaves_no_file(tiny_dir, tmp_path):
    """A file size limit makes the write fail with EFBIG part way, as a full disk fails with ENOSPC."""
    out = tmp_path / "m.gguf"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from synthtune.errors import SynthtuneError
        from synthtune.train.gguf import export_gguf
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        try:
            export_gguf({str(tiny_dir)!r}, {str(out)!r})
        except SynthtuneError as exc:
            print("ERROR", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"ERROR cannot write {out}: ") and "\n" not in line, line
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------
# The project entry point


def test_export_model_needs_a_merge_and_records_the_export(tiny_dir, tmp_path):
    with Project(tmp_path / "proj", parse_settings({})) as project:
        (tmp_path / "proj").mkdir()
        with pytest.raises(SynthtuneError, match="no merged model in this project"):
            export_model(project)
        assert project.store.latest_model_export() is None
        result = export_model(project, quant="q8_0", model=tiny_dir)
        record = project.store.latest_model_export()
        assert record is not None and record.id == result["id"]
        assert (record.format, record.quant, record.sha256) == ("gguf", "q8_0", result["sha256"])
        assert record.path == result["path"] and Path(record.path).name == "proj-q8_0.gguf"
        assert record.size_bytes == Path(record.path).stat().st_size and record.training_id is None
        assert record.source_model == str(Path(tiny_dir).resolve())


def test_export_model_uses_the_latest_merge_and_its_training(tiny_dir, tmp_path):
    merged = tmp_path / "merged"
    shutil.copytree(tiny_dir, merged)
    template_sha = hashlib.sha256(CHATML.encode()).hexdigest()
    adapter = str((tmp_path / "adapter").resolve())
    meta = {"kind": "merged_model", "base_model": "tiny", "adapter_dir": adapter,
            "adapter": {"data": {"sha256": "d" * 64}, "chat_template_sha256": template_sha}}  # fmt: skip
    (merged / "synthtune_meta.json").write_text(json.dumps(meta))
    (tmp_path / "proj").mkdir()
    with Project(tmp_path / "proj", parse_settings({})) as project:
        training_id = project.store.record_training("tiny", adapter, "d" * 64, "{}", {})
        project.store.record_merge(training_id, adapter, str(merged.resolve()))
        result = export_model(project, out=tmp_path / "out" / "tuned.gguf")
        assert project.store.latest_model_export().training_id == training_id
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["training_id"] == training_id and manifest["base_model"] == "tiny"
    assert manifest["adapter"] == adapter and manifest["training_data"] == {"sha256": "d" * 64}
    assert manifest["training_chat_template_sha256"] == manifest["chat_template_sha256"] == template_sha
    assert result["source_model"] == str(merged.resolve()) and result["quant"] == "f16"


# ---------------------------------------------------------------------------------------------------
# The bundled model


@pytest.mark.slow
def test_bundled_smollm2_exports_with_its_template(tmp_path):
    from synthtune.llm.bundled import bundled_generator_dir

    source_dir = bundled_generator_dir()
    result = export_gguf(source_dir, tmp_path / "smol-q8_0.gguf", quant="q8_0")
    tok = AutoTokenizer.from_pretrained(source_dir)
    reader = gguf.GGUFReader(result.path)
    # synthtune's folder holds the tokenizer transformers rebuilt from the shipped GGUF: GPT-2 splitting
    assert reader.fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    assert reader.fields["tokenizer.chat_template"].contents() == tok.chat_template
    modelfile = (tmp_path / "Modelfile").read_text()
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in modelfile
    source = AutoModelForCausalLM.from_pretrained(source_dir, dtype=torch.float32).eval()
    loaded = load_gguf(result.path)
    ids = prompt_ids(tok, [{"role": "user", "content": "What is the capital of France?"}])
    assert np.mean(np.array(greedy(loaded, ids, 20)) == np.array(greedy(source, ids, 20))) >= 0.9


def test_export_model_command(tiny_dir, tmp_path):
    """The CLI in a subprocess: no merge is one line naming the fix; --model writes the file and says how to
    run it, --json reports the same export the store recorded."""
    from conftest import one_line_error, synthtune_cmd

    proj = tmp_path / "proj"
    assert synthtune_cmd("init", proj).returncode == 0
    proc = synthtune_cmd("-C", proj, "export-model")
    assert proc.returncode == 1
    one_line_error(proc, "no merged model in this project")
    proc = synthtune_cmd("-C", proj, "export-model", "--quant", "q5_k")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    proc = synthtune_cmd("-C", proj, "export-model", "--model", tiny_dir, "--quant", "q8_0", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert Path(result["path"]).is_file() and result["quant"] == "q8_0"
    with Project(proj) as p:
        assert p.store.latest_model_export().sha256 == result["sha256"]
