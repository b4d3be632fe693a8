"""Prompt templates: Jinja files shipped in the package, each identified by the sha256 of its text.

The hash is stored on every row a template produced (questions, answers, judgments, llm_calls), so a
changed prompt is new work and old rows stay traceable. ``generate.prompts`` in synthtune.yaml
overrides any template by name with a path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from synthtune.errors import ConfigError

PROMPTS_DIR = Path(__file__).with_name("prompts")
NAMES = (
    "question_factual",
    "question_numeric",
    "question_reasoning",
    "question_unanswerable",
    "answer",
    "judge_question",
    "judge_answer",
    "judge_correctness",
)
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    path: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def messages(self, **values) -> list[dict[str, str]]:
        """Render to chat messages. A template may put a system message before a line '---user---'."""
        rendered = _ENV.from_string(self.text).render(**values).strip()
        if "---user---" in rendered:
            system, user = rendered.split("---user---", 1)
            return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]
        return [{"role": "user", "content": rendered}]


def load_prompt(name: str, overrides: dict[str, str] | None = None, base: Path | None = None) -> Prompt:
    overrides = overrides or {}
    unknown = set(overrides) - set(NAMES)
    if unknown:
        raise ConfigError(
            f"generate.prompts: unknown template '{sorted(unknown)[0]}'; known: {', '.join(NAMES)}"
        )
    if name in overrides:
        path = Path(overrides[name]).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ConfigError(f"generate.prompts.{name}: no such file {path}")
        text = path.read_text(encoding="utf-8")
    else:
        path = PROMPTS_DIR / f"{name}.j2"
        text = path.read_text(encoding="utf-8")
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"prompt template {path}: line {exc.lineno}: {exc.message}") from None
    return Prompt(name, text, str(path))
