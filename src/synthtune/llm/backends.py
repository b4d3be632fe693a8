"""TEMP: re-exports for the modules of other branches that still import ``synthtune.llm.backends``; the
backends now live one per file (:mod:`synthtune.llm.base`, :mod:`synthtune.llm.transformers_backend`,
:mod:`synthtune.llm.openai_backend`). Delete once every import names those modules."""

from synthtune.llm.base import Backend, ChatRequest, Completion, make_backend
from synthtune.llm.openai_backend import OpenAIBackend
from synthtune.llm.transformers_backend import TransformersBackend

__all__ = ["Backend", "ChatRequest", "Completion", "OpenAIBackend", "TransformersBackend", "make_backend"]
