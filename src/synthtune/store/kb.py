"""Knowledge-base operations: documents with their pages and chunks, embeddings, search candidates, ingest
failures. (Being filled in: see docs/architecture.md.)"""

from __future__ import annotations

from synthtune.store.primitives import Primitives


class KnowledgeBaseOps(Primitives):
    pass
