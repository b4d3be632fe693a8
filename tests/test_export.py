"""Export: golden files per format, byte-identical re-exports, context rows, and the trainers' own readers
(TRL's SFTTrainer trains on the files; Axolotl validates axolotl.yaml when installed; LLaMA-Factory's
documented dataset_info.json fields).

Regenerate the golden files after an intended change with ``SYNTHTUNE_UPDATE_GOLDEN=1 pytest
tests/test_export.py`` and read the diff before committing it.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import torch
import yaml
from conftest import write
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synthtune.chat import Conversation, Passage, renumber_markers, strip_markers
from synthtune.config import parse_settings
from synthtune.errors import ConfigError, SynthtuneError
from synthtune.export import export_dataset
from synthtune.export.formats import ChatTemplateRenderer
from synthtune.project import Project
from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
from synthtune.synth.curate import curate
from synthtune.synth.facts_stage import extract_facts

GOLDEN = Path(__file__).parent / "golden" / "export"
UPDATE = os.environ.get("SYNTHTUNE_UPDATE_GOLDEN") == "1"
DATA = ("train.jsonl", "val.jsonl", "test.jsonl")
ALL_FILES = {*DATA, "lineage.jsonl", "dataset_card.md", "manifest.json", "axolotl.yaml", "dataset_info.json"}

COMPANIES = [
    # name, revenue ($M), gross margin (%), staff, city
    ("Alpha", "152.2", "43.4", "412", "Austin"),
    ("Beta", "88.0", "38.1", "130", "Dayton"),
    ("Gamma", "61.5", "51.0", "77", "Reno"),
    ("Delta", "240.9", "29.7", "1,050", "Boise"),
    ("Epsilon", "12.3", "60.2", "18", "Tulsa"),
    ("Zeta", "99.9", "44.4", "301", "Omaha"),
]
DOCS = {
    f"doc{i}.md": f"# {name} Corp annual report\n\n{name} Corp revenue was ${rev} million in fiscal 2025, and its "
    f"gross margin was {margin}%.\n\nAt year end {name} Corp employed {staff} people, most of them in {city}. "
    f"It runs 2 plants."  # curate reads the marker in "... [2]." as the number 2: keep 2 in the text
    for i, (name, rev, margin, staff, city) in enumerate(COMPANIES)
}
SETTINGS = {
    "curate": {"min_examples_per_chunk": 0, "dedup_threshold": 0.99},
    "search": {"mode": "lexical"},  # BM25: context rows do not depend on float ties of the embedder
}

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>"]
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BOS_CHATML = "{{ bos_token }}" + CHATML


# ---------------------------------------------------------------------------------------------------
# A small store with accepted examples in every split


def add_qa(
    p: Project, chunk_id: int, question: str, answer: str, kind: str, cites: list[int], retrieved: list[int]
):
    """A question and its answer (shown the ``retrieved`` passages), written as generation writes them."""
    unit = GenerationUnit(
        f"test:{chunk_id}:{question}", chunk_id, None, kind, 0, "test-writer", "q" * 64, "ok", 1
    )
    [qid] = p.store.record_generation_unit(unit, [], [NewQuestion(question, "ok")])
    p.store.record_answer(NewAnswer(qid, answer, cites, retrieved, "ok", "test-answerer", "a" * 64), None)
    return qid


def build_kb(root: Path, embedder) -> Project:
    """Six company reports with accepted examples in every split (and one rejected), curated."""
    for name, text in DOCS.items():
        write(root / "docs" / name, text)
    (root / "proj").mkdir()
    p = Project(root / "proj", parse_settings(SETTINGS))
    p._embedder = embedder
    p.ingest([root / "docs"])
    extract_facts(p)  # curation checks each figure against the facts of the metric and period asked
    chunks = p.store.source_chunks()
    paths = {d.id: d.source_path for d in p.store.documents_info({c.document_id for c in chunks})}
    chunk = {Path(paths[c.document_id]).name: c.id for c in chunks}
    names = sorted(chunk)
    for i, (name, rev, _margin, _staff, city) in enumerate(COMPANIES):
        own, other, third = (chunk[names[(i + j) % len(names)]] for j in range(3))
        # the answerer was shown three passages (generate.answer_k), another document's chunk first: its
        # [2] is the own chunk
        add_qa(p, own, f"What was {name} Corp's revenue in fiscal 2025?",
               f"{name} Corp's revenue was ${rev} million in fiscal 2025 [2].", "numeric", [own],
               [other, own, third])  # fmt: skip
        add_qa(p, own, f"Where do most of {name} Corp's employees work?", f"Most of them work in {city}.",
               "factual", [own], [third, other, own])  # fmt: skip
        if i == 0:
            add_qa(p, own, f"Who audits {name} Corp's accounts?", "The documents do not say.", "unanswerable",
                   [own], [own, other, third])  # fmt: skip
            # rejected: the number is not in the cited text
            add_qa(p, own, f"What was {name} Corp's net income in fiscal 2025?",
                   "Net income was $17.5 million.", "numeric", [own], [own])  # fmt: skip
    curate(p, coverage=False)
    return p


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    p = build_kb(tmp_path_factory.mktemp("export"), embedder)
    yield p
    p.close()


# ---------------------------------------------------------------------------------------------------
# A tiny random llama with a ChatML tokenizer, saved like any local model


def _bpe() -> Tokenizer:
    corpus = list(DOCS.values()) + ["system user assistant Passages page Corp revenue employees"]
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


def make_tokenizer(template: str, add_bos: bool = False) -> PreTrainedTokenizerFast:
    tok = _bpe()
    if add_bos:  # the tokenizer itself puts <s> in front of what it encodes (Llama style)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    hf.chat_template = template
    return hf


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-llama")
    tok = make_tokenizer(CHATML)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_golden(out: Path, name: str, files: tuple[str, ...]) -> None:
    for f in files:
        golden = GOLDEN / name / f
        actual = (out / f).read_bytes()
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(actual)
            continue
        assert golden.exists(), f"no golden file {golden}: run with SYNTHTUNE_UPDATE_GOLDEN=1 and review it"
        assert actual.decode("utf-8") == golden.read_text(encoding="utf-8"), (
            f"{name}/{f} differs from its golden file"
        )


# ---------------------------------------------------------------------------------------------------
# Golden files and determinism


def test_store_has_examples_in_every_split(kb):
    assert {ex.split for ex in kb.store.examples(status="accepted")} == {"train", "val", "test"}
    assert len(kb.store.examples(status="rejected")) >= 1


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_golden_files(kb, tmp_path, fmt):
    result = export_dataset(kb, format=fmt, out=tmp_path / fmt)
    out = Path(result["out"])
    assert set(result["files"]) == ALL_FILES == {p.name for p in out.iterdir()}
    assert result["rows"] == {s: len(read_jsonl(out / f"{s}.jsonl")) for s in ("train", "val", "test")}
    extra = ("lineage.jsonl", "dataset_card.md", "axolotl.yaml") if fmt == "messages" else ()
    check_golden(out, fmt, (*DATA, "dataset_info.json", *extra))


def test_golden_files_completion(kb, tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setattr(kb.settings.train, "base_model", tiny_dir)
    out = Path(export_dataset(kb, format="completion", out=tmp_path / "c")["out"])
    check_golden(out, "completion", (*DATA, "dataset_info.json"))
    for row in read_jsonl(out / "train.jsonl"):
        assert list(row) == ["prompt", "completion", "text"]
        assert row["text"] == row["prompt"] + row["completion"]
        assert row["prompt"].endswith("<|im_start|>assistant\n")
        assert row["completion"].endswith("<|im_end|>") and row["completion"].count("<|im_end|>") == 1


def test_golden_files_with_context(kb, tmp_path):
    out = Path(export_dataset(kb, format="messages", out=tmp_path / "ctx", with_context=True)["out"])
    check_golden(out, "messages-context", (*DATA, "lineage.jsonl"))


@pytest.mark.parametrize("fmt,context", [("messages", False), ("alpaca", True)])
def test_export_is_deterministic(kb, tmp_path, fmt, context):
    a = export_dataset(kb, format=fmt, out=tmp_path / "a", with_context=context)
    b = export_dataset(kb, format=fmt, out=tmp_path / "nested" / "b", with_context=context)
    assert a["files"] == b["files"] and a["sha256"] == b["sha256"]
    for name in a["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "nested" / "b" / name).read_bytes(), name
        assert str(tmp_path) not in (tmp_path / "a" / name).read_text(encoding="utf-8"), (
            f"{name} holds a path"
        )


def test_manifest_hashes_every_file_and_records_settings(kb, tmp_path):
    import hashlib

    out = Path(export_dataset(kb, format="sharegpt", out=tmp_path / "m")["out"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == ALL_FILES - {"manifest.json"}
    for name, info in manifest["files"].items():
        data = (out / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["bytes"] == len(data)
    assert manifest["rows"] == {s: manifest["files"][f"{s}.jsonl"]["rows"] for s in ("train", "val", "test")}
    assert manifest["format"] == "sharegpt" and manifest["settings"]["export"]["format"] == "sharegpt"
    assert "out" not in manifest["settings"]["export"]
    assert manifest["generators"]["question_writer"] == {
        "test-writer": {"q" * 64: sum(manifest["rows"].values())}
    }
    assert manifest["source"]["examples_rejected"] >= 1
    lineage = read_jsonl(out / "lineage.jsonl")
    assert [(r["split"], r["row"]) for r in lineage][:2] == [("train", 0), ("train", 1)]
    assert all(r["document"].startswith("doc") and "/" not in r["document"] for r in lineage)


def test_card_reports_sources_checks_and_license(kb, tmp_path, monkeypatch):
    monkeypatch.setattr(kb.settings.export, "license", "cc-by-4.0")
    card = (Path(export_dataset(kb, out=tmp_path / "card")["out"]) / "dataset_card.md").read_text()
    assert card.startswith("---\n") and "license: cc-by-4.0" in card
    for needle in ("Alpha Corp annual report", "doc0.md", "test-writer", "test-answerer", "numbers_grounded",
                   "qqqqqqqqqqqqqqqq", "load_dataset"):  # fmt: skip
        assert needle in card
    row = next(line for line in card.splitlines() if line.startswith("| numbers_grounded |"))
    evaluated, passed = (int(x) for x in row.split("|")[2:4])
    assert passed == evaluated - 1  # the invented net income


# ---------------------------------------------------------------------------------------------------
# Rows


def test_closed_book_rows(kb, tmp_path):
    out = Path(export_dataset(kb, format="messages", out=tmp_path / "cb")["out"])
    rows = [r for s in DATA for r in read_jsonl(out / s)]
    assert all([m["role"] for m in r["messages"]] == ["system", "user", "assistant"] for r in rows)
    answers = [r["messages"][-1]["content"] for r in rows]
    assert not any(re.search(r"\[\d+\]", a) for a in answers), "closed-book answers keep citation markers"
    assert "Alpha Corp's revenue was $152.2 million in fiscal 2025." in answers
    assert "The documents do not say." in answers  # unanswerable questions teach refusals


def test_context_rows_show_cited_passage_and_distractors(kb, tmp_path):
    out = Path(export_dataset(kb, format="messages", out=tmp_path / "ctx", with_context=True)["out"])
    lineage = read_jsonl(out / "lineage.jsonl")
    rows = {s: read_jsonl(out / f"{s}.jsonl") for s in ("train", "val", "test")}
    chunk_text = {c.id: c.text for c in kb.store.source_chunks()}
    for info in lineage:
        user, answer = (m["content"] for m in rows[info["split"]][info["row"]]["messages"][1:])
        shown = info["context_chunk_ids"]
        assert len(shown) == kb.settings.export.context_k
        blocks = re.findall(r"^\[(\d)\] (.+?), page (\d+):\n", user, flags=re.M)
        assert [int(b[0]) for b in blocks] == list(range(1, len(shown) + 1))
        for cid in shown:
            assert chunk_text[cid].strip() in user
        if info["kind"] == "unanswerable":
            assert not re.search(r"\[\d\]", answer)
            continue
        assert (
            set(info["cited_chunk_ids"]) <= set(shown) and len(set(shown) - set(info["cited_chunk_ids"])) >= 1
        )
        marks = {int(n) for n in re.findall(r"\[(\d)\]", answer)}
        assert marks == {shown.index(c) + 1 for c in info["cited_chunk_ids"]}


def test_alpaca_rows_match_the_user_turn_llamafactory_builds(kb, tmp_path):
    a = Path(export_dataset(kb, format="alpaca", out=tmp_path / "a", with_context=True)["out"])
    m = Path(export_dataset(kb, format="messages", out=tmp_path / "m", with_context=True)["out"])
    for al, ms in zip(read_jsonl(a / "train.jsonl"), read_jsonl(m / "train.jsonl"), strict=True):
        assert list(al) == ["instruction", "input", "output", "system"]
        system, user, assistant = (x["content"] for x in ms["messages"])
        assert "\n".join(x for x in (al["instruction"], al["input"]) if x) == user  # LLaMA-Factory's join
        assert (al["system"], al["output"]) == (system, assistant)


def test_no_system_prompt(kb, tmp_path, monkeypatch):
    monkeypatch.setattr(kb.settings.export, "system_prompt", None)
    out = Path(export_dataset(kb, format="alpaca", out=tmp_path / "ns")["out"])
    assert all("system" not in r for r in read_jsonl(out / "train.jsonl"))
    info = json.loads((out / "dataset_info.json").read_text())
    assert all("system" not in e["columns"] for e in info.values())
    assert yaml.safe_load((out / "axolotl.yaml").read_text())["datasets"][0]["type"] == "alpaca"


def test_errors(kb, make_project, tmp_path):
    with pytest.raises(ConfigError, match="unknown export format 'jsonl'"):
        export_dataset(kb, format="jsonl", out=tmp_path / "x")
    empty = make_project()
    with pytest.raises(SynthtuneError, match="synthtune curate"):
        export_dataset(empty)
    assert not (empty.dir / "export").exists()


def test_markers_and_renderer_units():
    assert strip_markers("Revenue was $5 million [1][3].") == "Revenue was $5 million."
    assert renumber_markers("It was $5 [2].", seen=[7, 9], shown=[4, 9, 7], cited=[9]) == "It was $5 [2]."
    assert (
        renumber_markers("It was $5 [1].", seen=[7, 9], shown=[9, 4], cited=[9]) == "It was $5 [1]."
    )  # 7 hidden
    assert renumber_markers("It was $5.", seen=[], shown=[4, 9], cited=[9]) == "It was $5 [2]."
    assert renumber_markers("No idea", seen=[], shown=[4], cited=[]) == "No idea"
    conv = Conversation(question="Q?", answer="A.", system="S",
                        passages=(Passage(1, "Doc", 2, 3, "text"),))  # fmt: skip
    assert conv.user == "Q?\nPassages:\n[1] Doc, pages 2-3:\ntext"
    # a tokenizer that adds BOS itself, with a template that writes it too: the text must not double it
    tok = make_tokenizer(BOS_CHATML, add_bos=True)
    row = ChatTemplateRenderer(tok)(conv)
    assert not row["text"].startswith("<s>") and row["text"].startswith("<|im_start|>system")
    ids = tok(row["text"])["input_ids"]
    assert ids[0] == tok.bos_token_id != ids[1]
    assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")


# ---------------------------------------------------------------------------------------------------
# External checks: TRL, Axolotl, LLaMA-Factory


@pytest.mark.parametrize("fmt", ["messages", "completion"])
def test_trl_sft_trainer_trains_on_the_export(kb, tmp_path, tiny_dir, monkeypatch, fmt):
    """TRL's own dataset handling (load_dataset + SFTTrainer preparation) takes the files as they are."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    monkeypatch.setattr(kb.settings.train, "base_model", tiny_dir)
    out = Path(export_dataset(kb, format=fmt, out=tmp_path / fmt)["out"])
    ds = load_dataset("json", data_files={"train": str(out / "train.jsonl"), "val": str(out / "val.jsonl")})
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = SFTConfig(
        output_dir=str(tmp_path / "trl"), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2,
        logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[], use_cpu=True, bf16=False,
        seed=0, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["val"], processing_class=tok
    )

    eot = tok.convert_tokens_to_ids("<|im_end|>")
    prepared = list(trainer.train_dataset)
    assert len(prepared) == len(ds["train"])
    for row in prepared:
        ids, labels = row["input_ids"], row["labels"]
        trained = [i for i, x in enumerate(labels) if x != -100]
        assert trained, "every label masked"
        if fmt == "completion":  # the loss is on the answer only, and the answer ends with one end-of-turn
            assert labels[0] == -100 and ids[trained[-1]] == eot and ids[-1] == eot and ids[-2] != eot
        else:
            assert ids.count(eot) == 3  # system, user, assistant turns each closed once
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(math.isfinite(x) for x in losses)
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    assert math.isfinite(trainer.evaluate()["eval_loss"])


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca", "completion"])
def test_axolotl_config_matches_the_rows(kb, tmp_path, tiny_dir, monkeypatch, fmt):
    monkeypatch.setattr(kb.settings.train, "base_model", tiny_dir)
    out = Path(export_dataset(kb, format=fmt, out=tmp_path / fmt)["out"])
    cfg = yaml.safe_load((out / "axolotl.yaml").read_text())
    t = kb.settings.train
    assert (cfg["base_model"], cfg["adapter"], cfg["load_in_4bit"]) == (tiny_dir, "qlora", True)
    assert (cfg["lora_r"], cfg["lora_alpha"], cfg["lora_dropout"], cfg["sequence_len"]) == (
        t.lora_r, t.lora_alpha, t.lora_dropout, t.max_length)  # fmt: skip
    assert cfg["lora_target_linear"] is True
    (train,) = cfg["datasets"]
    (val,) = cfg["test_datasets"]
    assert (train["path"], val["path"], cfg["val_set_size"]) == ("train.jsonl", "val.jsonl", 0.0)
    row = read_jsonl(out / "train.jsonl")[0]
    if fmt in ("messages", "sharegpt"):
        assert cfg["chat_template"] == "tokenizer_default" and train["type"] == "chat_template"
        turn = row[train["field_messages"]][0]
        assert set(turn) == set(train["message_property_mappings"].values())
    elif fmt == "alpaca":
        assert train["type"] == "alpaca_w_system.load_instruct" and {
            "instruction",
            "input",
            "output",
            "system",
        } == set(row)
    else:
        assert (train["type"], train["field"]) == ("completion", "text") and "text" in row


def test_axolotl_validates_the_config(kb, tmp_path):
    pytest.importorskip(
        "axolotl", reason="axolotl is not installed (pip install axolotl); its schema is not checked"
    )
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    for fmt in ("messages", "sharegpt", "alpaca"):
        out = Path(export_dataset(kb, format=fmt, out=tmp_path / fmt)["out"])
        cfg = validate_config(DictDefault(yaml.safe_load((out / "axolotl.yaml").read_text())))
        assert cfg.adapter == "qlora" and cfg.load_in_4bit


# LLaMA-Factory data/README.md: the keys a dataset_info.json entry may have
LF_ENTRY = {"hf_hub_url", "ms_hub_url", "script_url", "file_name", "formatting", "ranking", "subset", "split", "folder",
            "num_samples", "columns", "tags"}  # fmt: skip
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos", "audios",
              "chosen", "rejected", "kto_tag"}  # fmt: skip
LF_TAGS = {
    "role_tag",
    "content_tag",
    "user_tag",
    "assistant_tag",
    "observation_tag",
    "function_tag",
    "system_tag",
}


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_llamafactory_dataset_info(kb, tmp_path, fmt):
    out = Path(export_dataset(kb, format=fmt, out=tmp_path / fmt)["out"])
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"synthtune_train", "synthtune_val", "synthtune_test"}
    for split, entry in ((k.rsplit("_", 1)[1], v) for k, v in info.items()):
        assert (
            set(entry) <= LF_ENTRY
            and set(entry["columns"]) <= LF_COLUMNS
            and set(entry.get("tags", {})) <= LF_TAGS
        )
        assert entry["file_name"] == f"{split}.jsonl" and entry["formatting"] in ("alpaca", "sharegpt")
        row = read_jsonl(out / entry["file_name"])[0]
        assert set(entry["columns"].values()) <= set(row)  # every mapped column exists
        if fmt != "alpaca":
            turns = row[entry["columns"]["messages"]]
            tags = entry["tags"]
            assert [t[tags["role_tag"]] for t in turns] == [
                tags["system_tag"],
                tags["user_tag"],
                tags["assistant_tag"],
            ]
            assert all(tags["content_tag"] in t for t in turns)


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_llamafactory_reads_the_same_conversation(kb, tmp_path, fmt):
    """LLaMA-Factory's own parser and converters turn every format into the turns of the messages export."""
    parser = pytest.importorskip("llamafactory.data.parser", reason="llamafactory is not installed")
    from types import SimpleNamespace

    from llamafactory.data.converter import get_dataset_converter

    out = Path(export_dataset(kb, format=fmt, out=tmp_path / fmt, with_context=True)["out"])
    ref = Path(export_dataset(kb, format="messages", out=tmp_path / "ref", with_context=True)["out"])
    (attr,) = parser.get_dataset_list(["synthtune_train"], str(out))
    convert = get_dataset_converter(attr.formatting, attr, SimpleNamespace(media_dir=str(out)))
    for row, expected in zip(read_jsonl(out / "train.jsonl"), read_jsonl(ref / "train.jsonl"), strict=True):
        got = convert(row)
        system, user, assistant = expected["messages"]
        assert got["_system"] == system["content"]
        assert got["_prompt"] == [user] and got["_response"] == [assistant]


def test_export_is_recorded(kb, tmp_path):
    result = export_dataset(kb, format="sharegpt", out=tmp_path / "rec")
    e = kb.store.latest_export()
    assert (e.format, e.path, e.sha256, e.n_rows) == (
        "sharegpt",
        str(Path(result["out"]).resolve()),
        result["sha256"],
        sum(result["rows"].values()),
    )


def test_exports_read_the_passages_frozen_at_curate(tmp_path, embedder):
    """Another document ingested and a search setting changed after curation: the same examples export to
    byte-identical files (context rows show the passages the answers were given, not a new search)."""
    p = build_kb(tmp_path, embedder)
    before = export_dataset(p, format="messages", out=tmp_path / "before", with_context=True)
    write(
        tmp_path / "more" / "industry.md",
        "# Industry overview\n\n" + " ".join(
            f"{name} Corp revenue was ${rev} million in fiscal 2025; most {name} Corp employees work in {city}; "
            f"who audits {name} Corp's accounts is public."
            for name, rev, _m, _s, city in COMPANIES
        ),
    )  # fmt: skip
    p.ingest([tmp_path / "more"])
    p.settings.search.mode = "hybrid"
    after = export_dataset(p, format="messages", out=tmp_path / "after", with_context=True)
    assert after["files"] == before["files"]
    for name in before["files"]:
        assert (tmp_path / "after" / name).read_bytes() == (tmp_path / "before" / name).read_bytes(), name
    p.close()
