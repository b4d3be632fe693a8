"""The CLI's JSON contracts, exit statuses and one-line errors (run through the real entry point).

What a user sees on an error is checked in a real subprocess (:func:`synthtune`): in process, an exception
that escapes reaches pytest, and a traceback never reaches the captured stderr."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import one_line_error, synthtune_cmd, write  # noqa: F401
from test_train_stage import dataset  # noqa: F401  (fixture: a project with accepted examples)

from synthtune import cli


@pytest.fixture
def run(monkeypatch, capsys):
    """Run `synthtune ARGS` in process through cli.main; returns (exit status, stdout, stderr)."""

    def _run(*args: str):
        monkeypatch.setattr(sys, "argv", ["synthtune", *map(str, args)])
        code = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


@pytest.fixture
def docs(tmp_path):
    d = tmp_path / "docs"
    write(d / "q3.md", "# Acme Q3\n\nRevenue was $152.2 million in the third quarter.")
    write(d / "call.txt", "The CEO said the Reno factory opens next spring.")
    return d


def test_ingest_search_status_json_contracts(run, tmp_path, docs):
    proj = tmp_path / "proj"
    code, _, _ = run("init", proj)
    assert code == 0 and (proj / "synthtune.yaml").exists()

    code, out, _ = run("-C", proj, "ingest", docs, "--json")
    assert code == 0
    data = json.loads(out)
    assert {"added", "updated", "unchanged", "failed", "chunks"} <= set(data)
    assert (data["added"], data["failed"]) == (2, [])

    code, out, _ = run("search", "Reno factory", "-k", "2", "--mode", "hybrid", "--json", "-C", proj)
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "Reno factory"
    keys = {
        "chunk_id",
        "document_id",
        "title",
        "source_path",
        "page_start",
        "page_end",
        "char_start",
        "char_end",
        "score",
        "text",
    }
    assert data["results"] and all(set(r) == keys for r in data["results"])
    assert "Reno" in data["results"][0]["text"]

    code, out, _ = run("status", "--json", "-C", proj)
    st = json.loads(out)
    assert (st["documents"], st["failures"]) == (2, [])
    assert st["embeddings"][0]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert st["embeddings"][0]["chunks"] == st["chunks"]
    # no facts read yet (that is the facts stage of `run`), no page needed OCR
    assert st["ocr_pages"] == 0 and st["facts"]["facts"] == 0 and st["facts"]["documents"] == 2


def test_ingest_exits_1_when_a_file_fails_but_stores_the_rest(tmp_path, docs):
    (docs / "bad.pdf").write_bytes(b"\x00junk" * 50)
    proc = synthtune_cmd("-C", tmp_path, "ingest", docs, "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["added"] == 2
    assert [f["path"].rsplit("/", 1)[-1] for f in data["failed"]] == ["bad.pdf"]
    assert "bad.pdf" in proc.stderr and "Traceback" not in proc.stderr


def test_search_text_view_shows_title_pages_and_snippet(run, tmp_path, docs):
    run("-C", tmp_path, "ingest", docs)
    code, out, _ = run("-C", tmp_path, "search", "third quarter revenue", "-k", "1")
    assert code == 0
    assert "Acme Q3" in out and "p. 1" in out and "152.2" in out


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proc = synthtune_cmd("-C", tmp_path / "nowhere", "status")
    assert proc.returncode == 1
    one_line_error(proc, "does not exist")

    write(tmp_path / "synthtune.yaml", "search:\n  mdoe: dense\n")
    proc = synthtune_cmd("-C", tmp_path, "status")
    assert proc.returncode == 2
    one_line_error(proc, "unknown setting 'search.mdoe'; did you mean 'search.mode'?")


@pytest.mark.parametrize(
    ("args", "says", "hint"),
    [
        (["aks", "what?"], "No such command 'aks'.", "Try 'synthtune --help'"),
        (["search", "--nosuch", "q"], "No such option: --nosuch", "Try 'synthtune search --help'"),
        (["search"], "Missing argument 'query'.", "Try 'synthtune search --help'"),
        (["search", "q", "-k", "abc"], "Invalid value for '-k'", "Try 'synthtune search --help'"),
        (["examples", "show", "x"], "Invalid value for 'example_id'", "Try 'synthtune examples show --help'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, says, hint):
    proc = synthtune_cmd(*args)
    assert proc.returncode == 2
    one_line_error(proc, says)
    assert proc.stderr.splitlines()[-1] == hint and len(proc.stderr.splitlines()) == 2, proc.stderr
    assert proc.stdout == ""


def test_unwritable_output_paths_are_one_line_errors(tmp_path):
    """``init``, ``export-index`` and ``eval --out`` on a path under a regular file (unwritable even for
    root). ``eval`` says so before it loads any model: the tuned and base models here do not exist, so
    reaching them would fail with another message."""
    blocker = write(tmp_path / "a-file", "not a folder")
    proc = synthtune_cmd("init", blocker / "proj")
    assert proc.returncode == 1
    one_line_error(proc, f"cannot write the project folder {blocker / 'proj'}: Not a directory")

    proj = tmp_path / "proj"
    gold = write(tmp_path / "gold.jsonl", json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    write(
        proj / "synthtune.yaml",
        f"train:\n  base_model: {tmp_path / 'no-such-model'}\neval:\n  gold: {gold}\n",
    )
    proc = synthtune_cmd("-C", proj, "export-index", blocker / "index")
    assert proc.returncode == 1
    one_line_error(proc, f"cannot write the index folder {blocker / 'index'}")

    proc = synthtune_cmd("-C", proj, "eval", "--out", blocker / "report")
    assert proc.returncode == 1
    one_line_error(proc, f"cannot write the report folder {blocker / 'report'}: Not a directory")


def test_export_to_an_unwritable_folder_is_one_line(dataset, tmp_path):  # noqa: F811
    blocker = write(tmp_path / "a-file", "not a folder")
    dataset.close()
    proc = synthtune_cmd("-C", dataset.dir, "export", "--out", blocker / "out")
    assert proc.returncode == 1
    one_line_error(proc, f"cannot write the export folder {blocker / 'out'}")


def test_every_command_has_help(run):
    code, out, _ = run("--help")
    assert code == 0
    commands = [c.name or c.callback.__name__ for c in cli.app.registered_commands]
    assert {"init", "ingest", "search", "status", "reembed", "export-index", "import-index"} <= set(commands)
    for name in commands:
        assert name in out
        c, help_out, _ = run(name, "--help")
        assert c == 0, name
        assert name == "init" or "--project" in help_out, f"{name} lacks -C/--project"


def test_examples_list_and_show_text_views(dataset, run):  # noqa: F811
    dataset.close()
    code, out, err = run("-C", dataset.dir, "examples", "list", "--status", "accepted", "--json")
    assert code == 0, err
    ex = json.loads(out)[0]
    code, out, _ = run("-C", dataset.dir, "examples", "list", "--limit", "1")
    assert code == 0 and str(ex["id"]) in out and "accepted" in out and "Company" in out
    code, out, _ = run("-C", dataset.dir, "examples", "show", ex["id"])
    assert code == 0
    assert f"example {ex['id']} · accepted" in out and f"Q: {ex['question']}" in " ".join(out.split())
    assert "pass" in out and ex["title"] in out  # its checks and its source passage
