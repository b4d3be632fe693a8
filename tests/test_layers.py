"""Layers import downward only (docs/architecture.md): a module may import its own layer and the ones
below it. Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "synthtune"

# lowest first; a module's layer is the longest prefix of its dotted name listed here
LAYERS: list[tuple[str, ...]] = [
    ("errors", "config", "stages", "paths", "hardware"),
    ("store",),
    ("text", "chat"),
    ("llm",),
    ("embed",),
    ("executor",),
    ("ingest",),
    ("search",),
    ("project",),
    ("synth", "interop"),
    ("export",),
    ("train",),
    ("evaluate", "ask"),
    ("pipeline",),
    ("cli", "web", "__main__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer(module: str) -> int | None:
    parts = module.split(".")
    assert parts[0] == "synthtune"
    if len(parts) == 1:  # the package itself: its __init__ re-exports the public API
        return None
    return RANK.get(parts[1])


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("synthtune")]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("synthtune")
        ):
            if node.module == "synthtune":
                out += [(node.lineno, f"synthtune.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_every_module_has_a_layer():
    unknown = sorted(
        module_name(p)
        for p in SRC.rglob("*.py")
        if module_name(p) != "synthtune" and layer(module_name(p)) is None
    )
    assert not unknown, f"modules without a layer in tests/test_layers.py: {unknown}"


def test_layers_import_downward_only():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        name = module_name(path)
        mine = layer(name)
        if mine is None:
            continue
        for lineno, target in imports(path):
            theirs = layer(target)
            if target == "synthtune.__version__" or theirs is None:
                continue
            if theirs > mine:
                upward.append(f"{path.relative_to(SRC.parent)}:{lineno} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    "module,target,ok",
    [
        ("synthtune.export.writer", "synthtune.train.stage", False),
        ("synthtune.train.stage", "synthtune.chat", True),
    ],
)
def test_the_rule_itself(module, target, ok):
    assert (layer(target) <= layer(module)) is ok


_SQL_CALL = re.compile(
    r"\.(?:execute|executemany|executescript|query|scalar)\(|\.conn\b|\bsqlite3\b|\bpsycopg\b"
)
_SQL_TEXT = re.compile(r"""["'](?:SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE)\s""")


def test_sql_lives_in_the_store_only():
    """Only ``store/`` talks to the database: no SQL strings, connections or cursors anywhere else."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "store":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SQL_CALL.search(line) or _SQL_TEXT.search(line):
                found.append(f"{path.relative_to(SRC.parent)}:{no}: {line.strip()}")
    assert not found, "SQL outside store/:\n" + "\n".join(found)
