"""Generation backends (in-process transformers, OpenAI-compatible HTTP) and prompt templates."""
