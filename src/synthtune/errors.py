"""Every error a user can cause is a :class:`SynthtuneError`.

The CLI prints ``error: <message>`` on one line and exits with :attr:`SynthtuneError.exit_code`;
anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (its class name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SynthtuneError(Exception):
    """Base class: a clear, one-line message meant for the user."""

    exit_code = 1


class ConfigError(SynthtuneError):
    """synthtune.yaml (or a command-line setting) is invalid."""

    exit_code = 2


class StoreError(SynthtuneError):
    """The store cannot be opened, is busy, or is from an incompatible version."""


class StoreBusyError(StoreError):
    """Another process holds the write lock for longer than the busy timeout."""


class LoaderError(SynthtuneError):
    """A document could not be read (encrypted, damaged, empty, unsupported)."""


class EmbeddingModelMismatch(SynthtuneError):
    """The store was embedded with a different model than the one configured."""


class ModelNotFoundError(SynthtuneError):
    """A model path or hub id could not be loaded (offline, misspelt, missing files)."""


class LLMError(SynthtuneError):
    """A generation backend failed after its retries."""


class DependencyMissing(SynthtuneError):
    """An optional dependency (CUDA, bitsandbytes, axolotl, ...) is not available."""


class TrainingDataError(SynthtuneError):
    """The rows, once tokenized with the model's chat template, are not fit to train on."""


class CheckpointMismatch(ConfigError):
    """A training checkpoint was made from other data or settings, so training cannot resume from it."""
