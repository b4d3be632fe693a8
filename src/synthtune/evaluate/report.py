"""The evaluation report: one self-contained HTML file rendered from the results dict.

Everything the page needs is inside it: the CSS is inline and each chart is a PNG drawn with
matplotlib's Agg renderer and embedded as base64, so the file opens from disk with no network.
Charts are drawn on bare ``matplotlib.figure.Figure`` objects, never through pyplot, so no global
figure state is created (nothing to close, nothing leaks between reports).

``render_report(results, out_dir)`` writes ``out_dir/report.html`` and returns its path. Every part of
``results`` may be missing or None; the page says what is absent instead of failing.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).with_name("templates")
REPORT_NAME = "report.html"

# Display order and labels of the metrics the evaluation computes; any other metric follows in the
# order it first appears, labelled by its key.
METRIC_ORDER = (
    "token_f1",
    "rouge_l",
    "semantic_similarity",
    "numeric_match",
    "refusal_accuracy",
    "judge_correctness",
    "recall_at_k",
    "mrr",
)
METRIC_LABELS = {
    "token_f1": "token F1",
    "rouge_l": "ROUGE-L",
    "semantic_similarity": "semantic similarity",
    "numeric_match": "numeric match",
    "refusal_accuracy": "refusal accuracy",
    "judge_correctness": "judge correctness",
    "recall_at_k": "recall@k",
    "mrr": "MRR",
}
SHORT_LABELS = {
    "token_f1": "F1",
    "rouge_l": "R-L",
    "semantic_similarity": "sim",
    "numeric_match": "num",
    "refusal_accuracy": "refusal",
    "judge_correctness": "judge",
    "recall_at_k": "R@k",
    "mrr": "MRR",
}
# Per-question scores that are 0 or 1 are shown as a tick or a cross.
BINARY_METRICS = {"numeric_match", "refusal_accuracy"}
# The axis range of each bounded metric; others are scaled to their values.
METRIC_RANGES = {"judge_correctness": (1.0, 5.0)}
UNIT_RANGE = (0.0, 1.0)
HEADLINE_METRICS = ("token_f1", "judge_correctness", "rouge_l", "semantic_similarity", "numeric_match")

# Chart colours by system kind: a few shades per kind, taken in order of appearance.
KIND_COLOURS = {
    "base": ("#94a3b8", "#64748b", "#cbd5e1", "#475569"),
    "tuned": ("#60a5fa", "#2563eb", "#93c5fd", "#1e40af"),
    "reference": ("#f5b041", "#d68910", "#f8c471", "#b9770e"),
}
OTHER_COLOURS = ("#5eead4", "#0d9488", "#a78bfa", "#7c3aed")
INK = "#334155"
GRID = "#e2e8f0"


def render_report(results: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` (self-contained, no external resources) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = _environment().get_template("report.html.j2").render(**_context(results or {}))
    path = out_dir / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --------------------------------------------------------------------------------------------------
# the view model: everything the template shows, already formatted


def _context(results: dict[str, Any]) -> dict[str, Any]:
    systems = [s for s in results.get("systems") or [] if s and s.get("name")]
    k = results.get("k")
    metric_info = results.get("metric_info") or {}
    metrics = _metric_keys(systems)
    colours = _system_colours(systems)
    comparisons = [c for c in results.get("comparisons") or [] if c]
    project = results.get("project") or ""
    return {
        "project": project,
        "project_name": Path(project).name if project else "",
        "created_at": _format_date(results.get("created_at")),
        "notes": [str(note) for note in results.get("notes") or []],
        "headlines": _headlines(systems, comparisons, k),
        "scopes": _scope_views(results.get("scopes") or {}, k),
        "systems": [_system_view(s, colours) for s in systems],
        "summary": _summary_rows(systems, metrics, metric_info, k),
        "comparisons": [_comparison_view(c, k) for c in comparisons],
        "metric_charts": _metric_charts(systems, metrics, colours, k),
        "training": _training_view(results.get("training")),
        "dataset": _dataset_view(results.get("dataset")),
        "questions": _question_views(results.get("questions") or [], systems, colours, k),
    }


SCOPE_METRICS = ("numeric_match", "token_f1")


def _scope_views(scopes: dict[str, Any], k: int | None) -> list[dict[str, Any]]:
    """Knowledge and skill apart: per scope its systems' means and each comparison against base."""
    views = []
    for name in ("knowledge", "skill"):
        scope = scopes.get(name)
        if not scope:
            continue
        systems = [x for x in scope.get("systems") or [] if x and x.get("name")]
        rows = []
        for x in systems:
            cells = []
            for m in SCOPE_METRICS:
                bounds = _interval(x, m)
                cells.append(
                    {
                        "value": _number((x.get("metrics") or {}).get(m)),
                        "ci": f"{_number(bounds[0])}–{_number(bounds[1])}" if bounds else "",
                    }
                )
            rows.append({"system": x["name"], "cells": cells})
        comparisons = [
            _comparison_view(c, k) for c in scope.get("comparisons") or [] if c.get("metric") in SCOPE_METRICS
        ]
        sets = ", ".join(f"{n} from {s}" for s, n in (scope.get("question_sets") or {}).items())
        views.append(
            {
                "name": name,
                "description": scope.get("description") or "",
                "n": scope.get("n"),
                "sets": sets,
                "labels": [metric_label(m, k) for m in SCOPE_METRICS],
                "rows": rows,
                "comparisons": comparisons,
            }
        )
    return views


def _metric_keys(systems: list[dict[str, Any]]) -> list[str]:
    present: list[str] = []
    for system in systems:
        for key, value in (system.get("metrics") or {}).items():
            if key != "n" and value is not None and key not in present:
                present.append(key)
    known = [m for m in METRIC_ORDER if m in present]
    return known + [m for m in present if m not in METRIC_ORDER]


def metric_label(metric: str, k: int | None = None) -> str:
    label = METRIC_LABELS.get(metric, metric.replace("_", " "))
    if metric == "recall_at_k" and k:
        label = f"recall@{k}"
    return label


def _short_label(metric: str, k: int | None) -> str:
    if metric == "recall_at_k" and k:
        return f"R@{k}"
    return SHORT_LABELS.get(metric, metric.replace("_", " "))


def _system_colours(systems: list[dict[str, Any]]) -> dict[str, str]:
    used: dict[str, int] = {}
    colours = {}
    for system in systems:
        kind = system.get("kind") or "other"
        palette = KIND_COLOURS.get(kind, OTHER_COLOURS)
        colours[system["name"]] = palette[used.get(kind, 0) % len(palette)]
        used[kind] = used.get(kind, 0) + 1
    return colours


def _system_view(system: dict[str, Any], colours: dict[str, str]) -> dict[str, Any]:
    return {
        "name": system["name"],
        "kind": system.get("kind") or "",
        "model": system.get("model") or "",
        "rag": bool(system.get("rag")),
        "n": (system.get("metrics") or {}).get("n"),
        "colour": colours[system["name"]],
    }


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 2) -> str:
    """A difference with its sign, using a true minus sign."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:+.{digits}f}"
    return text.replace("-", "\u2212")


def _p_value(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _format_date(created_at: str | None) -> str:
    if not created_at:
        return ""
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return created_at
    offset = moment.utcoffset()
    zone = "" if offset is None else "UTC" if not offset else moment.strftime("UTC%z")
    return f"{moment.day} {moment:%b %Y, %H:%M} {zone}".strip()


def _interval(system: dict[str, Any], metric: str) -> tuple[float, float] | None:
    bounds = (system.get("intervals") or {}).get(metric)
    if not bounds or len(bounds) != 2 or any(b is None for b in bounds):
        return None
    return float(bounds[0]), float(bounds[1])


def _summary_rows(
    systems: list[dict[str, Any]], metrics: list[str], metric_info: dict[str, str], k: int | None
) -> list[dict[str, Any]]:
    rows = []
    for metric in metrics:
        values = [(s.get("metrics") or {}).get(metric) for s in systems]
        present = [v for v in values if v is not None]
        best = max(present) if present else None
        cells = []
        for system, value in zip(systems, values, strict=True):
            bounds = _interval(system, metric)
            cells.append(
                {
                    "system": system["name"],
                    "value": _number(value),
                    "missing": value is None,
                    "best": value is not None and len(present) > 1 and math.isclose(value, best),
                    "ci": f"{_number(bounds[0])}–{_number(bounds[1])}" if bounds else "",
                }
            )
        rows.append(
            {
                "metric": metric,
                "label": metric_label(metric, k),
                "info": metric_info.get(metric, ""),
                "cells": cells,
            }
        )
    return rows


def _comparison_view(c: dict[str, Any], k: int | None) -> dict[str, Any]:
    difference = c.get("difference")
    significant = bool(c.get("significant"))
    direction = ""
    if significant and difference is not None:
        direction = "better" if difference > 0 else "worse" if difference < 0 else ""
    return {
        "system": c.get("system") or "",
        "against": c.get("against") or "",
        "metric": c.get("metric") or "",
        "label": metric_label(c.get("metric") or "", k),
        "n": c.get("n") if c.get("n") is not None else "–",
        "mean_a": _number(c.get("mean_a")),
        "mean_b": _number(c.get("mean_b")),
        "difference": _signed(difference),
        "ci": f"[{_signed(c.get('ci_low'))}, {_signed(c.get('ci_high'))}]"
        if c.get("ci_low") is not None and c.get("ci_high") is not None
        else "–",
        "p": _p_value(c.get("p_value")),
        "significant": significant,
        "direction": direction,
    }


def _headlines(
    systems: list[dict[str, Any]], comparisons: list[dict[str, Any]], k: int | None
) -> list[dict[str, Any]]:
    """One sentence per compared system: its difference on the headline metric against its baseline."""
    lines = []
    for system in systems:
        own = [c for c in comparisons if c.get("system") == system["name"]]
        if not own:
            continue
        against_names = [c.get("against") for c in own]
        against = "base" if "base" in against_names else against_names[0]
        own = [c for c in own if c.get("against") == against]
        by_metric = {c.get("metric"): c for c in own}
        metric = next((m for m in HEADLINE_METRICS if m in by_metric), own[0].get("metric"))
        main = _comparison_view(by_metric[metric], k)
        better = sum(1 for c in own if c.get("significant") and (c.get("difference") or 0) > 0)
        worse = sum(1 for c in own if c.get("significant") and (c.get("difference") or 0) < 0)
        parts = []
        if better:
            parts.append(f"significantly better on {better}")
        if worse:
            parts.append(f"significantly worse on {worse}")
        tally = (
            f"{' and '.join(parts)} of {len(own)} metrics"
            if parts
            else f"no significant difference on {len(own)} metrics"
        )
        if len(own) == 1:
            tally = ""
        lines.append({**main, "tally": tally})
    return lines


# --------------------------------------------------------------------------------------------------
# charts


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=144, facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#cbd5e1")
    ax.tick_params(colors=INK, labelsize=10, length=0)
    return fig, ax


def _metric_charts(
    systems: list[dict[str, Any]], metrics: list[str], colours: dict[str, str], k: int | None
) -> list[dict[str, Any]]:
    charts = []
    for metric in metrics:
        shown = [s for s in systems if (s.get("metrics") or {}).get(metric) is not None]
        if not shown:
            continue
        charts.append(
            {
                "metric": metric,
                "label": metric_label(metric, k),
                "png": _metric_chart(metric, shown, colours, k),
            }
        )
    return charts


def _metric_chart(metric: str, systems: list[dict[str, Any]], colours: dict[str, str], k: int | None) -> str:
    """Horizontal bars, one per system (first at the top), with the 95% interval of each mean."""
    names = [s["name"] for s in systems]
    values = [float(s["metrics"][metric]) for s in systems]
    positions = list(range(len(systems)))[::-1]
    fig, ax = _figure(4.2, 0.42 * len(systems) + 0.9)
    ax.barh(positions, values, height=0.62, color=[colours[n] for n in names], zorder=2)
    highs = []
    for pos, system, value in zip(positions, systems, values, strict=True):
        bounds = _interval(system, metric)
        if bounds is None:
            highs.append(value)
            continue
        low, high = min(bounds[0], value), max(bounds[1], value)
        ax.errorbar(
            value,
            pos,
            xerr=[[value - low], [high - value]],
            fmt="none",
            ecolor=INK,
            elinewidth=1.1,
            capsize=3,
            zorder=3,
        )
        highs.append(high)
    # bars start at zero; the axis spans the metric's whole range (or the values, for unbounded ones)
    lower = min(0.0, *values)
    upper = max(METRIC_RANGES.get(metric, UNIT_RANGE)[1], *highs)
    for pos, value, high in zip(positions, values, highs, strict=True):
        ax.text(high + (upper - lower) * 0.015, pos, f"{value:.2f}", va="center", fontsize=9.5, color=INK)
    ax.set_xlim(lower, upper * 1.08)
    ax.set_yticks(positions, names)
    ax.xaxis.grid(True, color=GRID, zorder=0)
    ax.set_axisbelow(True)
    ax.set_title(metric_label(metric, k), loc="left", fontsize=12, color=INK, fontweight="bold")
    return _png(fig)


def _loss_chart(curve: dict[str, Any], eval_before: float | None) -> str | None:
    train = [(p["step"], p["loss"]) for p in curve.get("train") or [] if p.get("loss") is not None]
    evals = [
        (p["step"], p.get("loss", p.get("eval_loss")))
        for p in curve.get("eval") or []
        if p.get("loss", p.get("eval_loss")) is not None
    ]
    if eval_before is not None and not any(step == 0 for step, _ in evals):
        evals = [(0, eval_before), *evals]
    if not train and not evals:
        return None
    fig, ax = _figure(7.0, 3.4)
    if train:
        ax.plot(*zip(*train, strict=True), color="#60a5fa", linewidth=1.6, label="train loss")
    if evals:
        ax.plot(
            *zip(*evals, strict=True),
            color="#f59e0b",
            linewidth=1.8,
            marker="o",
            markersize=4.5,
            label="validation loss",
        )
    ax.set_xlabel("optimizer step", color=INK, fontsize=9)
    ax.set_ylabel("loss", color=INK, fontsize=9)
    ax.grid(True, color=GRID)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, fontsize=9, labelcolor=INK)
    ax.set_title("Training loss", loc="left", fontsize=12, color=INK, fontweight="bold")
    return _png(fig)


def _checks_chart(by_check: dict[str, dict[str, int]]) -> str | None:
    rows = []
    for check, counts in by_check.items():
        passed, failed = int((counts or {}).get("passed") or 0), int((counts or {}).get("failed") or 0)
        if passed + failed:
            rows.append((check.replace("_", " "), passed, passed + failed))
    if not rows:
        return None
    positions = list(range(len(rows)))[::-1]
    rates = [passed / total for _, passed, total in rows]
    fig, ax = _figure(6.4, 0.42 * len(rows) + 1.0)
    ax.barh(positions, [1.0] * len(rows), height=0.6, color="#f1f5f9", zorder=1)
    ax.barh(positions, rates, height=0.6, color="#34d399", zorder=2)
    for pos, (_, passed, total), rate in zip(positions, rows, rates, strict=True):
        ax.text(1.02, pos, f"{rate:.0%}  ({passed}/{total})", va="center", fontsize=8.5, color=INK)
    ax.set_xlim(0, 1.32)
    ax.spines["bottom"].set_bounds(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_yticks(positions, [name for name, _, _ in rows])
    ax.xaxis.grid(True, color=GRID, zorder=0)
    ax.set_axisbelow(True)
    ax.set_title("Pass rate by check", loc="left", fontsize=12, color=INK, fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# training, dataset, questions


def _training_view(training: dict[str, Any] | None) -> dict[str, Any] | None:
    if not training:
        return None
    before, after = training.get("eval_loss_before"), training.get("eval_loss")
    change = None
    if before is not None and after is not None and before:
        change = f"{(after - before) / before:+.0%}".replace("-", "\u2212")
    return {
        "base_model": training.get("base_model") or "",
        "adapter_dir": training.get("adapter_dir") or "",
        "steps": training.get("steps"),
        "train_first": _number(training.get("train_loss_first"), 3),
        "train_last": _number(training.get("train_loss_last"), 3),
        "eval_before": _number(before, 3),
        "eval_after": _number(after, 3),
        "eval_change": change,
        "eval_improved": change is not None and after < before,
        "png": _loss_chart(training.get("loss_curve") or {}, before),
    }


def _dataset_view(dataset: dict[str, Any] | None) -> dict[str, Any] | None:
    if not dataset:
        return None
    counts = dataset.get("counts") or {}
    accepted, rejected = counts.get("accepted"), counts.get("rejected")
    rate = None
    if accepted is not None and rejected is not None and accepted + rejected:
        rate = f"{accepted / (accepted + rejected):.0%}"
    by_check = dataset.get("by_check") or {}
    return {
        "accepted": accepted,
        "rejected": rejected,
        "acceptance": rate,
        "splits": list((counts.get("splits") or {}).items()),
        "question_sets": list((dataset.get("question_sets") or {}).items()),
        "checks": [
            {
                "name": name.replace("_", " "),
                "passed": (c or {}).get("passed") or 0,
                "failed": (c or {}).get("failed") or 0,
            }
            for name, c in by_check.items()
        ],
        "png": _checks_chart(by_check),
    }


def _pages(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    if end is None or end == start:
        return f"p. {start}"
    return f"pp. {start}\u2013{end}"


def _score_view(metric: str, value: float, k: int | None) -> dict[str, Any]:
    value = float(value)
    binary = metric in BINARY_METRICS and value in (0.0, 1.0)
    text = ("\u2713" if value else "\u2717") if binary else _number(value)
    low, high = METRIC_RANGES.get(metric, UNIT_RANGE)
    level = (value - low) / (high - low) if high > low else 0.0
    tone = "good" if level >= 0.67 else "fair" if level >= 0.34 else "poor"
    return {
        "metric": metric,
        "label": _short_label(metric, k),
        "title": metric_label(metric, k),
        "text": text,
        "tone": tone,
    }


def _answer_view(name: str, answer: dict[str, Any] | None, colour: str, k: int | None) -> dict[str, Any]:
    answer = answer or {}
    scores = answer.get("scores") or {}
    ordered = [m for m in METRIC_ORDER if m in scores] + [m for m in scores if m not in METRIC_ORDER]
    return {
        "system": name,
        "colour": colour,
        "missing": not answer,
        "text": answer.get("text") or "",
        "scores": [_score_view(m, scores[m], k) for m in ordered if scores[m] is not None],
        "citations": [
            {
                "n": c.get("n"),
                "title": c.get("title") or "untitled",
                "pages": _pages(c.get("page_start"), c.get("page_end")),
                "chunk_id": c.get("chunk_id"),
                "text": c.get("text") or "",
            }
            for c in answer.get("citations") or []
        ],
    }


def _question_views(
    questions: list[dict[str, Any]], systems: list[dict[str, Any]], colours: dict[str, str], k: int | None
) -> list[dict[str, Any]]:
    names = [s["name"] for s in systems]
    views = []
    for q in questions:
        answers = q.get("answers") or {}
        order = names + [n for n in answers if n not in names]
        source = q.get("source")
        views.append(
            {
                "id": str(q.get("id") or ""),
                "set": q.get("set") or "",
                "kind": q.get("kind") or "",
                "question": q.get("question") or "",
                "reference": q.get("reference") or "",
                "document": q.get("document") or "",
                "page": _pages(q.get("page"), None),
                "source": {
                    "title": source.get("title") or "untitled",
                    "pages": _pages(source.get("page_start"), source.get("page_end")),
                    "text": source.get("text") or "",
                }
                if source
                else None,
                "answers": [_answer_view(n, answers.get(n), colours.get(n, ""), k) for n in order],
            }
        )
    return views


__all__ = ["REPORT_NAME", "metric_label", "render_report"]
