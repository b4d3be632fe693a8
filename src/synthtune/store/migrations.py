"""Numbered schema migrations, each applied in its own transaction and recorded in ``migrations``.

Add a migration by appending a function ``mNNN_name(conn)`` to :data:`MIGRATIONS`; never edit one that
has shipped. The public tables (documents, pages, chunks, questions, answers, examples) and their key
columns are documented in the README: change them only by adding columns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime


def run_script(conn: sqlite3.Connection, sql: str) -> None:
    """Execute a script statement by statement, inside the caller's transaction.

    ``Connection.executescript`` would commit first, breaking the one-transaction-per-migration rule.
    """
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")


def m001_knowledge_base(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE documents(
            id           INTEGER PRIMARY KEY,
            sha256       TEXT    NOT NULL UNIQUE,      -- of the file's bytes: the document's identity
            source_path  TEXT    NOT NULL,             -- absolute path it was read from (latest)
            title        TEXT    NOT NULL,
            media_type   TEXT    NOT NULL,             -- application/pdf, text/html, text/markdown, ...
            n_pages      INTEGER NOT NULL,
            size_bytes   INTEGER NOT NULL,
            mtime        REAL    NOT NULL,
            metadata     TEXT    NOT NULL DEFAULT '{}',  -- JSON: loader notes, pages without text, ...
            ingested_at  TEXT    NOT NULL
        );
        CREATE INDEX documents_source_path ON documents(source_path);

        CREATE TABLE pages(
            document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            page_no      INTEGER NOT NULL,             -- 1-based, as cited
            text         TEXT    NOT NULL,
            has_text     INTEGER NOT NULL DEFAULT 1,   -- 0: no text layer (scanned?)
            PRIMARY KEY (document_id, page_no)
        );

        CREATE TABLE chunks(
            id           INTEGER PRIMARY KEY,
            document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal      INTEGER NOT NULL,             -- 0-based position in the document
            text         TEXT    NOT NULL,             -- == pages.text[char_start:char_end] of page_start
            header       TEXT    NOT NULL DEFAULT '',  -- contextual header embedded with the chunk
            section      TEXT,                         -- nearest heading, where the loader knows one
            page_start   INTEGER NOT NULL,
            page_end     INTEGER NOT NULL,
            char_start   INTEGER NOT NULL,             -- offset into page_start's text
            char_end     INTEGER NOT NULL,             -- offset into page_end's text (exclusive)
            n_tokens     INTEGER NOT NULL,             -- embedder tokens of text
            sha256       TEXT    NOT NULL,             -- of text
            embed_key    TEXT    NOT NULL,             -- sha256 of the exact passage string embedded
            UNIQUE (document_id, ordinal)
        );
        CREATE INDEX chunks_embed_key ON chunks(embed_key);

        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            header, text, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, header, text) VALUES (new.id, new.header, new.text);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, header, text)
            VALUES ('delete', old.id, old.header, old.text);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE OF header, text ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, header, text)
            VALUES ('delete', old.id, old.header, old.text);
            INSERT INTO chunks_fts(rowid, header, text) VALUES (new.id, new.header, new.text);
        END;

        CREATE TABLE embedding_models(
            id              INTEGER PRIMARY KEY,
            name            TEXT    NOT NULL UNIQUE,
            dim             INTEGER NOT NULL,
            normalized      INTEGER NOT NULL,
            query_prefix    TEXT    NOT NULL,
            passage_prefix  TEXT    NOT NULL,
            max_seq_length  INTEGER NOT NULL,
            created_at      TEXT    NOT NULL
        );
        -- one vector per (model, embedded string): a cache by content hash, joined to chunks.embed_key
        CREATE TABLE embeddings(
            model_id  INTEGER NOT NULL REFERENCES embedding_models(id) ON DELETE CASCADE,
            key       TEXT    NOT NULL,
            vector    BLOB    NOT NULL,                -- float32, little-endian, dim values
            PRIMARY KEY (model_id, key)
        ) WITHOUT ROWID;

        -- which embedding model this store's search uses (one row)
        CREATE TABLE store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE ingest_failures(
            source_path  TEXT PRIMARY KEY,
            error        TEXT NOT NULL,
            failed_at    TEXT NOT NULL
        );

        CREATE TABLE runs(
            id            INTEGER PRIMARY KEY,
            stage         TEXT NOT NULL,
            settings_sha  TEXT NOT NULL,
            inputs_sha    TEXT,
            started_at    TEXT NOT NULL,
            finished_at   TEXT,
            status        TEXT NOT NULL DEFAULT 'running',  -- running | ok | failed
            counters      TEXT NOT NULL DEFAULT '{}',
            error         TEXT
        );
        """,
    )


def m002_synthetic_dataset(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- every model call: who asked (role), which model and prompt, how it went
        CREATE TABLE llm_calls(
            id          INTEGER PRIMARY KEY,
            role        TEXT    NOT NULL,              -- question_writer | answerer | judge
            backend     TEXT    NOT NULL,              -- transformers | openai
            model       TEXT    NOT NULL,
            prompt_sha  TEXT    NOT NULL,              -- sha256 of the prompt template text
            settings    TEXT    NOT NULL,              -- JSON: decoding settings
            latency_s   REAL    NOT NULL,
            tokens_in   INTEGER NOT NULL,
            tokens_out  INTEGER NOT NULL,
            attempts    INTEGER NOT NULL,
            outcome     TEXT    NOT NULL,              -- ok | retried | failed
            error       TEXT,
            raw_output  TEXT    NOT NULL,
            created_at  TEXT    NOT NULL
        );

        -- one row per unit of generation work (chunk x kind x attempt): a re-run skips the done ones
        CREATE TABLE generation_units(
            work_key    TEXT    PRIMARY KEY,           -- sha256 of chunk text, kind, attempt, model, prompt
            chunk_id    INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            kind        TEXT    NOT NULL,
            attempt     INTEGER NOT NULL,
            status      TEXT    NOT NULL,              -- ok | failed (no usable question after retries)
            call_id     INTEGER REFERENCES llm_calls(id),
            n_questions INTEGER NOT NULL,
            created_at  TEXT    NOT NULL
        );
        CREATE INDEX generation_units_chunk ON generation_units(chunk_id);

        CREATE TABLE questions(
            id            INTEGER PRIMARY KEY,
            chunk_id      INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            chunk2_id     INTEGER REFERENCES chunks(id) ON DELETE CASCADE,  -- second chunk (reasoning)
            text          TEXT    NOT NULL,
            kind          TEXT    NOT NULL,            -- factual | numeric | reasoning | unanswerable
            status        TEXT    NOT NULL,            -- ok | rejected (parse checks; reason stored)
            reject_reason TEXT,
            generator     TEXT    NOT NULL,            -- model id
            prompt_sha    TEXT    NOT NULL,
            work_key      TEXT    NOT NULL REFERENCES generation_units(work_key) ON DELETE CASCADE,
            call_id       INTEGER REFERENCES llm_calls(id),
            created_at    TEXT    NOT NULL
        );
        CREATE INDEX questions_chunk ON questions(chunk_id);

        CREATE TABLE answers(
            id            INTEGER PRIMARY KEY,
            question_id   INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
            text          TEXT    NOT NULL,
            citations     TEXT    NOT NULL DEFAULT '[]',  -- JSON list of chunk ids the answer used
            retrieved     TEXT    NOT NULL DEFAULT '[]',  -- JSON list of chunk ids shown to the model
            status        TEXT    NOT NULL,            -- ok | failed
            generator     TEXT    NOT NULL,
            prompt_sha    TEXT    NOT NULL,
            call_id       INTEGER REFERENCES llm_calls(id),
            created_at    TEXT    NOT NULL,
            UNIQUE (question_id, generator, prompt_sha)
        );

        CREATE TABLE judgments(
            id          INTEGER PRIMARY KEY,
            subject     TEXT    NOT NULL,              -- question | answer
            subject_id  INTEGER NOT NULL,
            judge       TEXT    NOT NULL,              -- model id
            criterion   TEXT    NOT NULL,              -- quality | faithfulness
            score       INTEGER,                       -- 1-5; null when the judge's reply did not parse
            passed      INTEGER NOT NULL,
            rationale   TEXT    NOT NULL,
            prompt_sha  TEXT    NOT NULL,
            call_id     INTEGER REFERENCES llm_calls(id),
            created_at  TEXT    NOT NULL,
            UNIQUE (subject, subject_id, judge, criterion, prompt_sha)
        );

        CREATE TABLE examples(
            id           INTEGER PRIMARY KEY,
            question_id  INTEGER NOT NULL UNIQUE REFERENCES questions(id) ON DELETE CASCADE,
            answer_id    INTEGER REFERENCES answers(id) ON DELETE CASCADE,
            document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            split        TEXT,                         -- train | val | test (accepted rows)
            status       TEXT    NOT NULL,             -- accepted | rejected
            reasons      TEXT    NOT NULL DEFAULT '[]',  -- JSON: the checks that rejected it
            checks       TEXT    NOT NULL DEFAULT '{}',  -- JSON: every check's outcome
            updated_at   TEXT    NOT NULL
        );
        CREATE INDEX examples_split ON examples(split, status);
        """,
    )


def m003_exports_trainings_evaluations(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE exports(
            id          INTEGER PRIMARY KEY,
            format      TEXT    NOT NULL,              -- alpaca | sharegpt | messages | completion
            path        TEXT    NOT NULL,              -- the export folder
            sha256      TEXT    NOT NULL,              -- of its manifest.json
            n_rows      INTEGER NOT NULL,
            created_at  TEXT    NOT NULL
        );
        CREATE TABLE trainings(
            id            INTEGER PRIMARY KEY,
            base_model    TEXT    NOT NULL,
            adapter_path  TEXT    NOT NULL,
            data_sha      TEXT    NOT NULL,            -- sha256 of the training rows
            settings      TEXT    NOT NULL,            -- JSON
            metrics       TEXT    NOT NULL,            -- JSON
            status        TEXT    NOT NULL,            -- ok | failed
            created_at    TEXT    NOT NULL
        );
        CREATE TABLE merges(
            id            INTEGER PRIMARY KEY,
            training_id   INTEGER REFERENCES trainings(id) ON DELETE SET NULL,
            adapter_path  TEXT    NOT NULL,
            merged_path   TEXT    NOT NULL,
            created_at    TEXT    NOT NULL
        );
        CREATE TABLE evaluations(
            id           INTEGER PRIMARY KEY,
            systems      TEXT    NOT NULL,             -- JSON: each system's settings
            metrics      TEXT    NOT NULL,             -- JSON: metrics per system and comparisons
            dataset      TEXT    NOT NULL,             -- JSON: the question sets used
            report_path  TEXT    NOT NULL,
            created_at   TEXT    NOT NULL
        );
        """,
    )


def m004_frozen_passages_and_chunking(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- sha256 of the settings that cut the document into chunks (chunk size, overlap, header): a
        -- document read with other chunking settings is re-chunked on the next ingest
        ALTER TABLE documents ADD COLUMN chunking_sha TEXT NOT NULL DEFAULT '';
        -- the passages an example was answered from, frozen when it is curated (JSON list: chunk id,
        -- document id, title, pages, character span, text); export, training and evaluation read these
        ALTER TABLE examples ADD COLUMN passages TEXT NOT NULL DEFAULT '[]';
        """,
    )


def m005_model_exports(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- a model file written for other runtimes (GGUF for llama.cpp, Ollama, LM Studio)
        CREATE TABLE model_exports(
            id            INTEGER PRIMARY KEY,
            format        TEXT    NOT NULL,              -- gguf
            quant         TEXT    NOT NULL,              -- f16 | q8_0 | q4_0
            path          TEXT    NOT NULL,              -- the model file
            sha256        TEXT    NOT NULL,              -- of the model file's bytes
            size_bytes    INTEGER NOT NULL,
            source_model  TEXT    NOT NULL,              -- the transformers folder it was converted from
            training_id   INTEGER REFERENCES trainings(id),  -- the training behind it, when known
            created_at    TEXT    NOT NULL
        );
        """,
    )


def m006_reviews(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- a human decision on an example, kept with its history (an undo is a row naming its target);
        -- no foreign key to examples: curate rewrites that table, the decisions outlive it
        CREATE TABLE reviews(
            id           INTEGER PRIMARY KEY,
            example_id   INTEGER NOT NULL,
            question_id  INTEGER NOT NULL,
            decision     TEXT    NOT NULL,             -- accept | reject | edit | undo
            before       TEXT    NOT NULL,             -- JSON: question, answer, status before
            after        TEXT    NOT NULL,             -- JSON: question, answer, status after
            reviewer     TEXT    NOT NULL DEFAULT '',
            created_at   TEXT    NOT NULL,
            undoes       INTEGER REFERENCES reviews(id)  -- the review an undo takes back
        );
        CREATE INDEX reviews_example ON reviews(example_id);
        """,
    )


def m007_facts_and_identity(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- whom and which period a document is about (derived, or set in settings `documents:`)
        CREATE TABLE document_identities(
            document_id  INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
            subject      TEXT,                         -- "Acme Robotics, Inc."; null: not found (see reasons)
            ticker       TEXT,
            form         TEXT,                         -- earnings release | earnings call transcript | ...
            period       TEXT,                         -- JSON: the document's period; null: not found
            reasons      TEXT    NOT NULL DEFAULT '[]',  -- JSON: how each part was found, or why not
            overridden   INTEGER NOT NULL DEFAULT 0,   -- 1: subject/period set in settings
            extractor    TEXT    NOT NULL,             -- sha256 of the extractor version and the override
            created_at   TEXT    NOT NULL
        );

        -- each figure of a document with its meaning and exact place
        CREATE TABLE facts(
            id           INTEGER PRIMARY KEY,
            document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            subject      TEXT,
            metric       TEXT    NOT NULL,
            period       TEXT,                         -- JSON: text, months, end, fiscal_year, quarter, ...
            value        TEXT    NOT NULL,             -- decimal as written, signed
            unit         TEXT    NOT NULL,
            scale        TEXT    NOT NULL,             -- decimal: value * scale is the amount
            raw          TEXT    NOT NULL,
            page_no      INTEGER NOT NULL,
            char_start   INTEGER,                      -- offsets into the page text; null: not located
            char_end     INTEGER,
            table_cell   TEXT,                         -- JSON [table, row, column]; null for prose
            source       TEXT    NOT NULL,             -- table | prose
            problems     TEXT    NOT NULL DEFAULT '[]'   -- JSON: why it must not become a question
        );
        CREATE INDEX facts_document ON facts(document_id);

        -- a template question is made from one fact; re-deriving the facts drops its questions
        ALTER TABLE questions ADD COLUMN fact_id INTEGER REFERENCES facts(id) ON DELETE CASCADE;
        CREATE INDEX questions_fact ON questions(fact_id);
        """,
    )


def m008_ocr_and_failures_by_hash(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- 1: the page's text was read from its image by OCR, not from a text layer
        ALTER TABLE pages ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;
        -- JSON: OCR word and line boxes with their character offsets ({"ocr": {...}}), ligature and
        -- symbol repairs made to the text layer ({"repairs": {"ligatures": n, ...}})
        ALTER TABLE pages ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
        -- a failure is remembered by the file's content and the settings that read it, so an unchanged
        -- file that failed is not read again on every ingest ('' for failures recorded before)
        ALTER TABLE ingest_failures ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
        ALTER TABLE ingest_failures ADD COLUMN settings_sha TEXT NOT NULL DEFAULT '';
        """,
    )


def m009_fact_ranges(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- the upper end of a range ("$150 million to $156 million", guidance); null for a single figure
        ALTER TABLE facts ADD COLUMN value_high TEXT;
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_knowledge_base,
    m002_synthetic_dataset,
    m003_exports_trainings_evaluations,
    m004_frozen_passages_and_chunking,
    m005_model_exports,
    m006_reviews,
    m007_facts_and_identity,
    m008_ocr_and_failures_by_hash,
    m009_fact_ranges,
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations(id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT id FROM migrations")}
    applied = []
    for number, fn in enumerate(MIGRATIONS, start=1):
        if number in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            done_now = {row[0] for row in conn.execute("SELECT id FROM migrations")}
            if number not in done_now:  # another process may have applied it while we waited
                fn(conn)
                conn.execute(
                    "INSERT INTO migrations(id, name, applied_at) VALUES (?, ?, ?)",
                    (number, fn.__name__, datetime.now(UTC).isoformat(timespec="seconds")),
                )
                applied.append(fn.__name__)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
