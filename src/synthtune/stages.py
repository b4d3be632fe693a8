"""What a pipeline stage is: its name, the settings sections and inputs it reads, how it runs.

Each stage declares a :class:`Stage` next to its own code (``synthtune.ingest.pipeline.STAGE``,
``synthtune.synth.generate.STAGE``, ...); :mod:`synthtune.pipeline` only orders them, fingerprints what
they declare and skips a stage whose fingerprints have not changed since it last finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthtune.project import Project

StageProgress = Callable[[str, int | None, int], None]
"""``progress(phase, total, advance)``: a phase's total once (advance 0), then advances."""


@dataclass(frozen=True)
class Stage:
    name: str
    settings: tuple[str, ...]
    """The settings sections the stage reads: a change in any of them re-runs it."""
    inputs: Callable[[Project], Any]
    """What the stage reads, as JSON-able data (store fingerprints, file stats): a change re-runs it."""
    run: Callable[[Project, StageProgress | None], dict[str, Any]]
    """Does the work; returns the summary recorded with the run."""
    output_key: str | None = None
    """The summary key of a path the stage writes outside the store; the stage re-runs when it is gone."""
