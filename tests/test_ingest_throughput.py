"""Throughput machinery: files read ahead in worker processes give the same store as reading them one by
one, in the files' order, with a progress rate (pages/s, time left) after each file."""

from __future__ import annotations

from test_loaders import write_pdf

from synthtune.ingest.pipeline import IngestRate


def corpus(folder, n: int = 7):
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_pdf(
            folder / f"report-{i}.pdf",
            [f"Unit {i} revenue was {i + 10} million dollars.", f"Unit {i} outlook."],
        )
        for i in range(n)
    ]


def stored(p) -> list[tuple]:
    return [
        (d.source_path.rsplit("/", 1)[-1], d.n_pages, tuple(c.text for c in p.store.chunks(d.id)))
        for d in p.documents()
    ]


def test_workers_read_ahead_and_the_store_is_the_same_as_one_by_one(make_project, tmp_path) -> None:
    files = corpus(tmp_path / "docs")
    serial = make_project({"ingest": {"workers": 1}}, name="serial")
    parallel = make_project({"ingest": {"workers": 2}}, name="parallel")
    rates: list[IngestRate] = []

    a = serial.ingest(files)
    b = parallel.ingest(files, on_rate=rates.append)

    assert (a.added, b.added, b.pages, b.failed) == (7, 7, 14, [])
    assert stored(serial) == stored(parallel)
    assert [d.source_path for d in parallel.documents()] == [str(f) for f in files]  # written in order
    assert [r.files_done for r in rates] == list(range(1, 8)) and rates[-1].pages == 14
    assert rates[-1].eta_s == 0 and rates[-1].pages_per_s > 0 and b.pages_per_s > 0


def test_a_bad_file_among_workers_fails_alone(make_project, tmp_path) -> None:
    files = corpus(tmp_path / "docs", 6)
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    p = make_project({"ingest": {"workers": 2}})

    report = p.ingest([tmp_path / "docs"])

    assert report.added == len(files)
    assert [f["path"].rsplit("/", 1)[-1] for f in report.failed] == ["broken.pdf"]
    assert [f.source_path.rsplit("/", 1)[-1] for f in p.store.failures()] == ["broken.pdf"]
