"""Knowledge-base operations: documents with their pages and chunks, embeddings, search candidates, ingest
failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from synthtune.store.primitives import Primitives


@dataclass(frozen=True)
class Passage:
    """A chunk as it is cited: where it comes from (document, pages, character span) and its text.

    Examples freeze the passages they were answered from (:meth:`to_json`), so export, training and
    evaluation show exactly those, whatever happens to the store later."""

    chunk_id: int
    title: str
    page_start: int
    page_end: int
    text: str
    document_id: int = 0
    char_start: int = 0
    char_end: int = 0
    source_path: str = ""

    @property
    def pages(self) -> str:
        if self.page_start == self.page_end:
            return f"page {self.page_start}"
        return f"pages {self.page_start}-{self.page_end}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Passage:
        return cls(**data)


_PASSAGE_SQL = (
    "SELECT c.id AS chunk_id, d.title, c.page_start, c.page_end, c.text, c.document_id, c.char_start,"
    " c.char_end, d.source_path FROM chunks c JOIN documents d ON d.id = c.document_id"
)


class KnowledgeBaseOps(Primitives):
    def passages(self, chunk_ids: list[int]) -> list[Passage]:
        """The passages of these chunks, in the order given; ids no longer in the store are left out."""
        if not chunk_ids:
            return []
        unique = list(dict.fromkeys(chunk_ids))
        rows = self._rows(f"{_PASSAGE_SQL} WHERE c.id IN ({self._placeholders(len(unique))})", unique)
        by_id = {r["chunk_id"]: Passage(**r) for r in rows}
        return [by_id[i] for i in chunk_ids if i in by_id]
