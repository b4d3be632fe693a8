"""The CLI's JSON contracts, exit statuses and one-line errors (run through the real entry point)."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import write

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


def test_ingest_exits_1_when_a_file_fails_but_stores_the_rest(run, tmp_path, docs):
    (docs / "bad.pdf").write_bytes(b"\x00junk" * 50)
    code, out, err = run("-C", tmp_path, "ingest", docs, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["added"] == 2
    assert [f["path"].rsplit("/", 1)[-1] for f in data["failed"]] == ["bad.pdf"]
    assert "bad.pdf" in err and "Traceback" not in err


def test_search_text_view_shows_title_pages_and_snippet(run, tmp_path, docs):
    run("-C", tmp_path, "ingest", docs)
    code, out, _ = run("-C", tmp_path, "search", "third quarter revenue", "-k", "1")
    assert code == 0
    assert "Acme Q3" in out and "p. 1" in out and "152.2" in out


def test_user_errors_are_one_line_without_traceback(run, tmp_path):
    code, _, err = run("-C", tmp_path / "nowhere", "status")
    assert code == 1 and "does not exist" in err and "Traceback" not in err

    write(tmp_path / "synthtune.yaml", "search:\n  mdoe: dense\n")
    code, _, err = run("-C", tmp_path, "status")
    assert code == 2
    assert "unknown setting 'search.mdoe'; did you mean 'search.mode'?" in " ".join(err.split())
    assert "Traceback" not in err


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
