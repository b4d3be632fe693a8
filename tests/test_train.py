"""Training and merging on a tiny random llama-family model built in code (seconds each), one GPU
QLoRA test (skipped without CUDA + bitsandbytes) and one slow test on the bundled SmolLM2."""

from __future__ import annotations

import importlib
import json
import random

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    TrainerCallback,
)

from synthtune.chat import chat_format
from synthtune.config import TrainSettings, parse_settings
from synthtune.errors import (
    CheckpointMismatch,
    ConfigError,
    DependencyMissing,
    SynthtuneError,
    TrainingDataError,
)
from synthtune.train import trainer as trainer_mod
from synthtune.train.merge import merge
from synthtune.train.tokenize import (
    IGNORE_INDEX,
    check_rows,
    tokenize_conversation,
    tokenize_rows,
)
from synthtune.train.trainer import LengthGroupedSampler, train

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<|start_header_id|>",
           "<|end_header_id|>", "<|eot_id|>"]  # fmt: skip
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
    " + m['content'] + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
EOS_CLOSED = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + eos_token + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
NO_END = (
    "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)

COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent", "Stark"]
METRICS = ["revenue", "operating margin", "free cash flow", "net income"]


def make_rows(n: int, seed: int = 0, long_prompt: bool = False) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        company, metric = COMPANIES[i % len(COMPANIES)], METRICS[(i // len(COMPANIES)) % len(METRICS)]
        quarter, value = rng.randint(1, 4), rng.randint(10, 99)
        question = f"What was {company}'s {metric} in the {quarter} quarter?"
        if long_prompt:
            question = f"Context: {company} reported results. " * 20 + question
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Answer from the filings."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": f"{company}'s {metric} was ${value}.{quarter} million."},
                ]
            }
        )
    return rows


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    corpus = [m["content"] for r in make_rows(64) for m in r["messages"]] + [
        "system user assistant Context reported results quarter million"
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return tok


def make_tokenizer(bpe: Tokenizer, template: str, bos: str = "<|im_start|>", eos: str = "<|im_end|>",
                   add_bos: bool = False) -> PreTrainedTokenizerFast:  # fmt: skip
    tok = Tokenizer.from_str(bpe.to_str())
    if add_bos:  # the tokenizer puts BOS in front of everything it encodes with special tokens
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token="<|endoftext|>"
    )
    hf.chat_template = template
    return hf


@pytest.fixture(scope="module")
def chatml(bpe) -> PreTrainedTokenizerFast:
    return make_tokenizer(bpe, CHATML)


@pytest.fixture(scope="module")
def tiny_dir(bpe, tmp_path_factory) -> str:
    """A tiny random llama (2 layers, hidden 64) with a ChatML tokenizer, saved like any local model."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tok = make_tokenizer(bpe, CHATML)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def fast_settings(**kw) -> TrainSettings:
    base = dict(learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0, batch_size=4, grad_accum=1,
                lora_r=4, lora_alpha=8, eval_steps=1000, save_steps=1000, seed=0)  # fmt: skip
    return TrainSettings(**(base | kw))


class Capture(TrainerCallback):
    """Parameters of the model the trainer holds, at the start and at the end of training."""

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        self.module_types = {type(m).__name__ for m in model.modules()}

    def on_train_end(self, args, state, control, model=None, **kw):
        self.after = {n: p.detach().clone() for n, p in model.named_parameters()}


# ---------------------------------------------------------------------------------------------------
# Messages -> tokens


def test_labels_mask_prompt_and_train_answer_plus_end_of_turn(chatml):
    messages = make_rows(1)[0]["messages"]
    fmt = chat_format(chatml)
    assert (fmt.end_of_turn, fmt.end_of_turn_id) == ("<|im_end|>", chatml.convert_tokens_to_ids("<|im_end|>"))
    row = tokenize_conversation(messages, chatml, fmt)

    # the ids are exactly what inference feeds the model
    full = chatml.apply_chat_template(messages)["input_ids"]
    prompt = chatml.apply_chat_template(messages[:2], add_generation_prompt=True)["input_ids"]
    answer = chatml(messages[2]["content"], add_special_tokens=False)["input_ids"]
    newline = chatml("\n", add_special_tokens=False)["input_ids"]
    assert row["input_ids"] == full == prompt + answer + [fmt.end_of_turn_id] + newline
    # prompt masked, answer and <|im_end|> learned, the newline after it masked
    expected = [IGNORE_INDEX] * len(prompt) + answer + [fmt.end_of_turn_id] + [IGNORE_INDEX] * len(newline)
    assert row["labels"] == expected
    assert row["attention_mask"] == [1] * len(full)


def test_every_assistant_turn_is_trained_and_nothing_else(chatml):
    messages = [
        {"role": "user", "content": "What was Acme's revenue?"},
        {"role": "assistant", "content": "Acme's revenue was $12 million."},
        {"role": "user", "content": "And net income?"},
        {"role": "assistant", "content": "Net income was $3 million."},
    ]
    row = tokenize_conversation(messages, chatml, chat_format(chatml))
    trained = [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE_INDEX]
    assert (
        chatml.decode(trained)
        == "Acme's revenue was $12 million.<|im_end|>Net income was $3 million.<|im_end|>"
    )


@pytest.mark.parametrize(
    ("template", "bos", "eos", "end_of_turn"),
    [
        (LLAMA3, "<s>", "</s>", "<|eot_id|>"),
        (EOS_CLOSED, "<s>", "</s>", "</s>"),
        (CHATML, "<s>", "</s>", "<|im_end|>"),
    ],
)
def test_end_of_turn_token_found_from_the_template(bpe, template, bos, eos, end_of_turn):
    tok = make_tokenizer(bpe, template, bos=bos, eos=eos)
    fmt = chat_format(tok)
    assert fmt.end_of_turn == end_of_turn
    split = tokenize_rows(make_rows(3), tok, fmt, max_length=512)
    for row in split.rows:
        last = max(j for j, lab in enumerate(row["labels"]) if lab != IGNORE_INDEX)
        assert row["input_ids"][last] == tok.convert_tokens_to_ids(end_of_turn)


def test_template_without_end_of_turn_is_refused(bpe):
    tok = make_tokenizer(bpe, NO_END, bos="<s>", eos="</s>")
    fmt = chat_format(tok)
    assert fmt.end_of_turn == "</s>"  # nothing special follows an answer: the EOS guess
    with pytest.raises(TrainingDataError, match=r"3 of 3 train rows .* '</s>' .* never learn to stop"):
        tokenize_rows(make_rows(3), tok, fmt, max_length=512)


def test_doubled_bos_is_detected_and_never_produced(bpe):
    tok = make_tokenizer(bpe, LLAMA3, bos="<s>", eos="</s>", add_bos=True)
    fmt = chat_format(tok)
    messages = make_rows(1)[0]["messages"]
    ours = tokenize_conversation(messages, tok, fmt)
    assert ours["input_ids"][0] == fmt.bos_id != ours["input_ids"][1]
    check_rows([ours], fmt)
    # rendering the template and tokenizing with the tokenizer's own specials doubles BOS: caught
    naive_ids = tok(tok.apply_chat_template(messages, tokenize=False))["input_ids"]
    assert naive_ids[:2] == [fmt.bos_id, fmt.bos_id]
    naive = {
        "input_ids": naive_ids,
        "labels": [IGNORE_INDEX] * (len(naive_ids) - len(ours["labels"])) + ours["labels"],
    }
    with pytest.raises(TrainingDataError, match=r"1 of 1 train rows start with a doubled BOS"):
        check_rows([naive], fmt)


def test_rows_without_trainable_labels_are_refused(chatml):
    fmt = chat_format(chatml)
    row = tokenize_conversation(make_rows(1)[0]["messages"], chatml, fmt)
    masked = {**row, "labels": [IGNORE_INDEX] * len(row["labels"])}
    with pytest.raises(TrainingDataError, match=r"1 of 2 val rows have no trainable tokens \(rows 1\)"):
        check_rows([row, masked], fmt, "val")


def test_rows_longer_than_max_length_are_dropped_and_counted(chatml):
    fmt = chat_format(chatml)
    rows = make_rows(6)
    rows[1] = make_rows(1, long_prompt=True)[0]
    rows[4] = make_rows(1, seed=4, long_prompt=True)[0]
    split = tokenize_rows(rows, chatml, fmt, max_length=128)
    assert split.n_rows == 4 and split.n_dropped == 2
    assert split.dropped_too_long == [1, 4] and split.source_index == [0, 2, 3, 5]
    assert all(n > 128 for n in split.lengths_dropped)
    assert all(len(r["input_ids"]) <= 128 for r in split.rows)


def test_malformed_rows_are_named(chatml):
    fmt = chat_format(chatml)
    with pytest.raises(TrainingDataError, match="row 1: no assistant message"):
        tokenize_rows([make_rows(1)[0], {"messages": [{"role": "user", "content": "hi"}]}], chatml, fmt, 512)
    with pytest.raises(TrainingDataError, match="row 0, message 1: expected a role"):
        tokenize_rows([{"messages": [{"role": "bot", "content": "hi"}]}], chatml, fmt, 512)


def test_length_grouped_sampler_batches_similar_lengths():
    rng = random.Random(0)
    lengths = [rng.randint(40, 400) for _ in range(64)]
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(64))
    assert order == list(sampler)  # deterministic within an epoch (what resume relies on)
    sampler.set_epoch(1)
    assert list(sampler) != order

    def padded(idx):
        return sum(4 * max(lengths[i] for i in idx[k : k + 4]) for k in range(0, len(idx), 4))

    shuffled = list(range(64))
    random.Random(1).shuffle(shuffled)
    assert padded(order) < 0.75 * padded(shuffled)
    # a short last batch stays last, so the loader's batches are the sampler's batches
    odd = LengthGroupedSampler(lengths[:10], batch_size=4, seed=0).batches()
    assert [len(b) for b in odd] == [4, 4, 2]


def test_train_settings_are_documented_and_checked():
    for name, field in TrainSettings.model_fields.items():
        assert field.description, f"train.{name} has no description"
    s = TrainSettings()
    assert (s.lora_r, s.lora_alpha, s.lora_dropout, s.learning_rate, s.max_length) == (
        16,
        32,
        0.05,
        2e-4,
        512,
    )
    assert s.target_modules == "all-linear" and s.group_by_length and not s.qlora
    with pytest.raises(ConfigError, match="target_modules must be 'all-linear' or a list"):
        parse_settings({"train": {"target_modules": "all_linear"}})
    with pytest.raises(ConfigError, match="unknown setting 'train.lora_rank'"):
        parse_settings({"train": {"lora_rank": 8}})


# ---------------------------------------------------------------------------------------------------
# Training


@pytest.fixture(scope="module")
def trained(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter")
    capture, events = Capture(), []
    result = train(
        make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=8), out, base_model=tiny_dir,
        progress=events.append, callbacks=[capture],
    )  # fmt: skip
    return result, capture, events, out


def test_training_lowers_the_loss(trained):
    result, _, events, _ = trained
    assert result.steps == 8
    assert result.train_loss_last < result.train_loss_first
    assert result.eval_loss < result.eval_loss_before
    assert result.tokens_per_s > 0 and result.train_tokens > 0 and result.peak_mem_mb > 0
    assert (result.n_train_rows, result.n_val_rows, result.n_rows_dropped) == (16, 4, 0)
    steps = [e.step for e in events if e.loss is not None]
    assert steps == list(range(1, 9))
    assert all(e.tokens_per_s and e.tokens_per_s > 0 for e in events if e.loss is not None)
    assert events[0].step == 0 and events[0].eval_loss == pytest.approx(result.eval_loss_before)
    assert {e.max_steps for e in events} == {8}
    assert result.train_cpu_seconds > 0


def test_every_lora_parameter_changed_and_base_weights_did_not(trained):
    _, capture, _, _ = trained
    lora = {n for n in capture.before if "lora_" in n}
    assert lora and capture.trainable == lora
    for name in lora:
        assert not torch.equal(capture.before[name], capture.after[name]), f"{name} did not change"
    for name in set(capture.before) - lora:
        assert torch.equal(capture.before[name], capture.after[name]), f"base weight {name} changed"


def test_adapter_folder_describes_itself(trained, tiny_dir):
    result, _, _, out = trained
    files = {p.name for p in out.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "chat_template.jinja",
            "synthtune_meta.json", "metrics.json", "loss_curve.png"} <= files  # fmt: skip
    assert (out / "chat_template.jinja").read_text() == CHATML
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / "synthtune_meta.json").read_text())
    assert meta["base_model"] == tiny_dir and meta["end_of_turn_token"] == "<|im_end|>"
    assert meta["data"]["sha256"] == result.data_sha256 and len(result.data_sha256) == 64
    assert meta["data"]["rows"] == {"train": 16, "val": 4}
    assert meta["settings"]["lora_r"] == 4 and meta["settings"]["max_steps"] == 8
    assert {"torch", "transformers", "peft", "trl"} <= set(meta["versions"])
    assert meta["metrics"]["eval_loss"] == pytest.approx(result.eval_loss)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["step"] for h in metrics["train"]] == list(range(1, 9))
    assert metrics["eval"][0] == {"step": 0, "eval_loss": result.eval_loss_before}
    assert metrics["eval"][-1] == {"step": 8, "eval_loss": result.eval_loss}
    assert [e["step"] for e in metrics["eval"]] == [0, 8]  # eval_steps=1000: before and after only


def test_merged_logits_equal_base_plus_adapter(trained, tiny_dir, tmp_path):
    from peft import PeftModel

    _, _, _, out = trained
    merged_dir = merge(out, tmp_path / "merged")
    assert (merged_dir / "model.safetensors").exists() and (merged_dir / "chat_template.jinja").exists()
    assert json.loads((merged_dir / "synthtune_meta.json").read_text())["kind"] == "merged_model"
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert merged.dtype == torch.float32
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), out).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    tok = AutoTokenizer.from_pretrained(merged_dir)
    ids = tok.apply_chat_template(make_rows(2, seed=7)[0]["messages"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        a, b, c = merged(ids).logits, with_adapter(ids).logits, base(ids).logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert (a - c).abs().max() > 1e-3  # the adapter did change the model


def test_the_answer_loss_is_the_causal_lm_loss_on_the_trained_tokens(tiny_dir, chatml):
    from synthtune.train.trainer import answer_loss

    model = LlamaForCausalLM.from_pretrained(tiny_dir)
    fmt = chat_format(chatml)
    rows = [tokenize_conversation(r["messages"], chatml, fmt) for r in make_rows(3)]
    width = max(len(r["input_ids"]) for r in rows)
    batch = {
        k: torch.tensor([r[k] + [pad] * (width - len(r[k])) for r in rows])
        for k, pad in (("input_ids", 0), ("labels", -100), ("attention_mask", 0))
    }

    want = model(**batch).loss  # logits at every position, the mean over the trained tokens
    got = answer_loss(model, batch)
    n = int((batch["labels"][:, 1:] != -100).sum())

    assert float(got) == pytest.approx(float(want), rel=1e-5)
    assert float(answer_loss(model, batch, num_items=2 * n)) == pytest.approx(float(want) / 2, rel=1e-5)


def test_bf16_on_the_cpu_trains_under_autocast_and_keeps_float32_adapter_weights(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    runs = {
        p: train(make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=4, cpu_precision=p),
                 tmp_path / p, base_model=tiny_dir)
        for p in ("fp32", "bf16")
    }  # fmt: skip

    assert (runs["fp32"].cpu_bf16, runs["bf16"].cpu_bf16) == (False, True)
    assert runs["bf16"].train_loss_last < runs["bf16"].train_loss_first
    weights = {p: load_file(str(tmp_path / p / "adapter_model.safetensors")) for p in runs}
    assert weights["fp32"].keys() == weights["bf16"].keys()
    assert all(w.dtype == torch.float32 for w in weights["bf16"].values())
    # same seed and rows: only the arithmetic differs, and it did
    assert any(not torch.equal(weights["fp32"][k], weights["bf16"][k]) for k in weights["fp32"])


def test_lora_top_layers_puts_adapters_only_in_the_top_layers(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    run = train(make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=4, lora_top_layers=1), tmp_path,
                base_model=tiny_dir)  # fmt: skip
    keys = load_file(str(tmp_path / "adapter_model.safetensors")).keys()
    layers = {k.split(".layers.")[1].split(".")[0] for k in keys}
    modules = {k.split(".")[-3] for k in keys}
    assert layers == {"1"}  # of the tiny model's 2
    assert modules == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert run.train_loss_last < run.train_loss_first


def test_resume_continues_from_the_last_checkpoint(tiny_dir, tmp_path):
    settings = fast_settings(max_steps=6, save_steps=3)
    rows, val = make_rows(16), make_rows(4, seed=1)
    whole = train(rows, val, settings, tmp_path / "whole", base_model=tiny_dir)

    class Killed(Exception):
        pass

    def kill_at_step_4(event):
        if event.step == 4 and event.loss is not None:  # checkpoint-3 is on disk
            raise Killed

    with pytest.raises(Killed):
        train(rows, val, settings, tmp_path / "cut", base_model=tiny_dir, progress=kill_at_step_4)
    assert (tmp_path / "cut" / "checkpoints" / "checkpoint-3").is_dir()
    resumed = train(rows, val, settings, tmp_path / "cut", base_model=tiny_dir, resume=True)
    assert resumed.resumed_from_step == 3 and resumed.steps == 6
    # the same steps on the same batches: no step lost or repeated
    assert [h["step"] for h in resumed.loss_history] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(resumed.loss_history, whole.loss_history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4), a["step"]
    assert resumed.eval_loss == pytest.approx(whole.eval_loss, rel=1e-4)
    # resuming on other data is refused with the type that `run` catches to start afresh
    with pytest.raises(CheckpointMismatch, match="different data or settings"):
        train(make_rows(16, seed=5), val, settings, tmp_path / "cut", base_model=tiny_dir, resume=True)


def test_unknown_target_module_names_the_valid_ones(tiny_dir, tmp_path):
    settings = fast_settings(target_modules=["q_proj", "qkv_proj"])
    with pytest.raises(ConfigError) as err:
        train(make_rows(4), [], settings, tmp_path, base_model=tiny_dir)
    message = str(err.value)
    assert "'qkv_proj' is not a linear module" in message
    assert "down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj" in message


def test_max_length_shorter_than_every_prompt_is_a_clear_error(tiny_dir, tmp_path):
    with pytest.raises(
        TrainingDataError, match=r"all 4 train rows are longer than train.max_length=16 tokens"
    ):
        train(make_rows(4), [], fast_settings(max_length=16), tmp_path, base_model=tiny_dir)


def test_qlora_without_cuda_fails_before_loading_anything(monkeypatch, tmp_path):
    monkeypatch.setattr(trainer_mod, "is_cuda_available", lambda: False)

    def must_not_load(_):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(trainer_mod, "resolve_base", must_not_load)
    with pytest.raises(DependencyMissing, match=r"train.qlora needs a CUDA GPU .*train.qlora: false"):
        train(make_rows(4), [], TrainSettings(qlora=True), tmp_path)
    assert issubclass(DependencyMissing, SynthtuneError)


def test_unwritable_output_folders_fail_before_loading_anything(monkeypatch, trained, tmp_path):
    """A path under a regular file cannot be written (even by root): said at once, not after training."""

    def must_not_load(_):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(trainer_mod, "resolve_base", must_not_load)
    # the package exports the function `merge` under the submodule's name
    monkeypatch.setattr(importlib.import_module("synthtune.train.merge"), "resolve_base", must_not_load)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        SynthtuneError, match=r"cannot write the adapter folder .*a-file/adapter: Not a directory"
    ):
        train(make_rows(4), [], TrainSettings(), blocker / "adapter")
    adapter = trained[3]
    with pytest.raises(SynthtuneError, match=r"cannot write the folder for the merged model .*a-file: "):
        merge(adapter, blocker / "merged")


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or not trainer_mod.is_bitsandbytes_available(),
    reason="QLoRA needs CUDA and bitsandbytes",
)
def test_qlora_trains_on_a_4bit_base_and_merges_unquantized(tiny_dir, tmp_path):
    capture = Capture()
    result = train(
        make_rows(16), make_rows(4, seed=1), fast_settings(qlora=True, max_steps=8), tmp_path / "qlora",
        base_model=tiny_dir, callbacks=[capture],
    )  # fmt: skip
    assert result.device == "cuda"
    assert "Linear4bit" in capture.module_types
    assert result.eval_loss < result.eval_loss_before
    lora = {n for n in capture.before if "lora_" in n}
    assert lora and all(not torch.equal(capture.before[n], capture.after[n]) for n in lora)
    merged_dir = merge(tmp_path / "qlora", tmp_path / "merged")
    config = json.loads((merged_dir / "config.json").read_text())
    assert "quantization_config" not in config
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert not any("Linear4bit" in type(m).__name__ for m in merged.modules())
    assert merged.dtype in (torch.bfloat16, torch.float16)
    ids = torch.tensor([[1, 5, 6, 7]])
    assert torch.isfinite(merged(ids).logits).all()


@pytest.mark.slow
def test_bundled_smollm2_val_loss_goes_down(tmp_path_factory, monkeypatch):
    import os

    if not os.environ.get("SYNTHTUNE_CACHE"):
        monkeypatch.setenv("SYNTHTUNE_CACHE", str(tmp_path_factory.mktemp("cache")))
    out = tmp_path_factory.mktemp("smollm2-adapter")
    settings = TrainSettings(learning_rate=1e-3, batch_size=2, grad_accum=1, max_steps=5, warmup_ratio=0.0,
                             eval_steps=1000, save_steps=1000)  # fmt: skip
    result = train(make_rows(10), make_rows(4, seed=1), settings, out)
    assert result.steps == 5
    assert result.eval_loss < result.eval_loss_before
    assert json.loads((out / "synthtune_meta.json").read_text())["end_of_turn_token"] == "<|im_end|>"

    # merged into the base (tied input and output embeddings): same logits as base + adapter
    from peft import PeftModel

    from synthtune.config import BUNDLED_GENERATOR
    from synthtune.llm.bundled import resolve_generator

    merged_dir = merge(out, tmp_path_factory.mktemp("smollm2-merged") / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    base = AutoModelForCausalLM.from_pretrained(resolve_generator(BUNDLED_GENERATOR))
    with_adapter = PeftModel.from_pretrained(base, out).eval()
    tok = AutoTokenizer.from_pretrained(merged_dir)
    ids = tok.apply_chat_template(make_rows(1, seed=9)[0]["messages"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, with_adapter(ids).logits, atol=1e-3, rtol=1e-3)


def test_a_time_budget_cuts_the_steps_and_their_learning_rate_schedule(tiny_dir, tmp_path):
    from transformers import get_scheduler

    from synthtune.train.trainer import _refit_schedule

    # a budget already spent when the first steps have been timed: training stops there and says so
    run = train(make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=40, max_minutes=1e-6), tmp_path,
                base_model=tiny_dir)  # fmt: skip
    assert run.planned_steps == 40 and 1 <= run.steps < 40
    assert run.to_dict()["planned_steps"] == 40
    # the schedule of the cut run decays to its new end, not to the planned one
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    for kind in ("cosine", "linear"):
        sched = get_scheduler(kind, opt, num_warmup_steps=0, num_training_steps=40)
        _refit_schedule(sched, 10)
        assert sched.lr_lambdas[0](10) == pytest.approx(0.0, abs=1e-9) and sched.lr_lambdas[0](5) > 0
    uncut = train(make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=8, max_minutes=60), tmp_path / "u",
                  base_model=tiny_dir)  # fmt: skip
    assert uncut.steps == 8 and uncut.planned_steps is None  # a budget that holds the run changes nothing


# bf16: the trainer autocasts the model's forward (an AMX CPU's default); the kept states must be computed
# under the same autocast, else they differ from the whole model's and the cache switches itself off
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_kept_frozen_layer_outputs_train_the_same_adapter_with_fewer_layer_passes(
    tiny_dir, tmp_path, precision
):
    from safetensors.torch import load_file

    # 16 rows, batches of 4, 12 steps: three epochs, so rows come back after their first pass
    runs = {
        cache: train(make_rows(16), make_rows(4, seed=1),
                     fast_settings(max_steps=12, lora_top_layers=1, cache_frozen_layers=cache,
                                   cpu_precision=precision),
                     tmp_path / str(cache), base_model=tiny_dir)
        for cache in (False, True)
    }  # fmt: skip

    assert runs[False].frozen_cache is None
    summary = runs[True].frozen_cache
    assert summary.startswith("outputs of the bottom 1 of 2 layers kept for 20 rows")  # 16 train + 4 val
    used, passes = (int(w) for w in summary.split("; ")[1].split(" row passes")[0].split(" of "))
    assert passes >= 12 * 4 and used >= 2 * 16  # epochs 2 and 3 ran only the top layer
    weights = {c: load_file(str(tmp_path / str(c) / "adapter_model.safetensors")) for c in runs}
    assert weights[True].keys() == weights[False].keys()
    for key, want in weights[False].items():
        torch.testing.assert_close(weights[True][key], want, rtol=1e-4, atol=1e-5)
    assert runs[True].train_loss_last == pytest.approx(runs[False].train_loss_last, rel=1e-4)


def test_frozen_layer_cache_turns_itself_off_where_it_would_change_the_loss(bpe, tmp_path):
    from transformers import GraniteConfig, GraniteForCausalLM

    from synthtune.train.frozen import frozen_cache

    tok = make_tokenizer(bpe, CHATML)
    small = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                 bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    # dropout in the frozen layers: their outputs differ at every pass
    torch.manual_seed(0)
    cache = frozen_cache(LlamaForCausalLM(LlamaConfig(**small, attention_dropout=0.1)), 1)
    assert "attention_dropout=0.1" in cache.off_reason
    # activation checkpointing recomputes the layers from inputs that must carry gradients
    cache = frozen_cache(LlamaForCausalLM(LlamaConfig(**small)), 1, checkpointing=True)
    assert cache.off_reason.startswith("train.gradient_checkpointing is on")

    # Granite scales its input embeddings inside its forward pass: states fed back in would be scaled twice
    path = tmp_path / "tiny-granite"
    GraniteForCausalLM(GraniteConfig(**small, embedding_multiplier=12.0)).save_pretrained(path)
    tok.save_pretrained(path)
    run = train(make_rows(16), make_rows(4, seed=1), fast_settings(max_steps=8, lora_top_layers=1), tmp_path / "a",
                base_model=str(path))  # fmt: skip
    assert run.frozen_cache.startswith("the top layers from kept states differ from the whole model")
    assert run.train_loss_last < run.train_loss_first


def test_a_time_budget_is_refitted_when_kept_frozen_layer_outputs_make_steps_cheaper(tiny_dir, tmp_path):
    import time

    class SlowFirstEpoch(TrainerCallback):
        """Makes the first epoch's steps slow, as running the frozen layers makes them."""

        def on_step_end(self, args, state, control, **kw):
            if state.epoch < 1.0:
                time.sleep(1.0)

    # 32 rows in batches of 4: 8 steps an epoch. Paced by the first epoch's steps (1 s each, a little more
    # under load), the 30 s budget fits 20-30 of the 40 planned; paced again from the second epoch, all 40 fit
    settings = fast_settings(max_steps=40, max_minutes=0.5, lora_top_layers=1)
    seen = MaxSteps()
    run = train(make_rows(32), make_rows(4, seed=1), settings, tmp_path, base_model=tiny_dir,
                callbacks=[SlowFirstEpoch(), seen])  # fmt: skip
    assert run.steps == 40 and run.planned_steps is None
    assert min(seen.max_steps) < 40  # cut while the steps were slow, then given back
    assert run.frozen_cache.startswith("outputs of the bottom 1 of 2 layers")


class MaxSteps(TrainerCallback):
    """Records the step count the budget set at each step."""

    def __init__(self):
        self.max_steps: list[int] = []

    def on_step_end(self, args, state, control, **kw):
        self.max_steps.append(state.max_steps)


def test_a_time_budget_follows_the_pace_as_it_changes(tiny_dir, tmp_path):
    """The pace is measured again as training goes: a run whose steps turn slow halfway is cut to what
    the time left holds, and stops when the time is up."""
    import time

    class SlowFromStep10(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= 10:
                time.sleep(1.0)

    settings = fast_settings(max_steps=60, max_minutes=0.25, lora_top_layers=1, cache_frozen_layers=False)
    seen = MaxSteps()
    t0 = time.perf_counter()
    run = train(make_rows(16), make_rows(4, seed=1), settings, tmp_path, base_model=tiny_dir,
                callbacks=[SlowFromStep10(), seen])  # fmt: skip
    assert seen.max_steps[8] > run.steps  # the fast first steps fitted more than the slow ones let run
    assert run.planned_steps == 60 and 10 < run.steps < 30  # 15 s at 1 s a step after the 10th
    assert time.perf_counter() - t0 < 60
