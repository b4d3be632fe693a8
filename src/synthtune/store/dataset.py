"""Dataset operations: model calls, generation units, questions, answers, judgments, examples with their
frozen passages. (Being filled in: see docs/architecture.md.)"""

from __future__ import annotations

from synthtune.store.primitives import Primitives


class DatasetOps(Primitives):
    pass
