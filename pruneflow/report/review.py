"""What a reviewer reads first: the headline per model base → head, the exact changes, then the
timings judged against the run's own noise (`pruneflow.stats.noise`) (pure; the PR comment's sections).

Inputs are flat `{dotted key: value}` metrics of the base revision and of the workspace, with
metrics.json and timings.json merged (`dvc metrics diff --json --all` gives both). A base written before
the two files were split has its timings inside metrics.json: the dotted keys are the same. The models
and their columns are the headline's (`pruneflow.report.headline`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pruneflow.artifacts.results import is_timing
from pruneflow.report.headline import _number, headline_models
from pruneflow.stats.noise import Flat, verdict
from pruneflow.stats.paired import Paired


def _relative(old: Any, new: Any) -> str:
    if not all(isinstance(v, (int, float)) for v in (old, new)) or not old:
        return ""
    return f" ({100 * (new - old) / abs(old):+.1f} %)"  # -0.8 → -0.6 is a rise


def _cell(old: Any, new: Any, kind: str) -> str:
    """`base → head (change)` for one headline cell; `kind` picks units and the change's form."""
    if old is None and new is None:
        return "–"
    digits = {"pct": 1, "bytes": 0, "macs": 2, "ms": 3, "x": 2}[kind]
    scale = 1e-6 if kind == "macs" else 1.0
    show = lambda v: "–" if v is None else _number(v * scale if kind == "macs" else v, digits)  # noqa: E731
    if old is None or new is None:
        return f"{show(old)} → {show(new)}"
    if old == new:
        return f"{show(new)} (=)"
    if kind == "pct":
        change = f" ({new - old:+.2f} pts)"
    elif kind == "x":
        change = f" ({new - old:+.2f})"
    else:
        change = _relative(old, new)
    return f"{show(old)} → {show(new)}{change}"


def _model_name(accuracy_key: str) -> str:
    """The headline model's name in the predictions' comparisons (`channels.unstructured…`, `pruned…`)."""
    name = accuracy_key.split(".")[-2]
    return "unstructured" if name == "pruned" else name


def accuracy_noise(change: Paired | str | None) -> str:
    """The accuracy cell's judgement of a base → head change, paired on the same test images."""
    if change is None:
        return ""
    if isinstance(change, str):
        return f"; not judged: {change}"
    return (f", 95 % CI {change.ci_low_pts:+.1f} to {change.ci_high_pts:+.1f}, McNemar p = {change.p_value:.2g}: "
            f"{'beyond' if change.differs() else 'within'} noise")


def against_dense_cell(name: str, flat: Flat) -> str:
    """The head's difference from dense with its paired CI and p (metrics.json `significance`)."""
    column = "pruned" if name == "unstructured" else name
    key = f"significance.against_dense.{column}"
    if name == "dense":
        return "reference"
    if f"{key}.diff_pts" not in flat:
        return "–"
    return (f"{flat[f'{key}.diff_pts']:+.1f} [{flat[f'{key}.ci_low_pts']:+.1f}, {flat[f'{key}.ci_high_pts']:+.1f}], "
            f"p = {flat[f'{key}.p_value']:.2g}")


def headline_table(base: Flat, head: Flat, accuracy_changes: Mapping[str, Paired | str] | None = None) -> list[str]:
    """The Markdown headline: a row per model of either run, base → head (change) in each cell; an
    accuracy change judged within or beyond noise by `accuracy_changes` (model → the paired comparison
    of its base and head predictions, or why there is none), and the head's difference from dense with
    its 95 % CI and McNemar p."""
    models = {m.label: m for m in headline_models(base)} | {m.label: m for m in headline_models(head)}
    if not models:
        return ["No headline: neither revision's metrics have a dense or pruned model."]
    lines = ["| model | test accuracy % | vs dense, pts [95 % CI], p | sparsity % | bytes | gzip bytes | MACs (M) | "
             "p50 ms, batch 1 | speed-up vs dense |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, m in models.items():
        name = _model_name(m.accuracy)
        if m.speedup is None:
            speed = "1.00× (reference)"
        else:
            speed = _cell(base.get(m.speedup), head.get(m.speedup), "x")
            if base.get(m.speedup) is not None and head.get(m.speedup) is not None and base[m.speedup] != head[m.speedup]:
                speed += f", {verdict(m.speedup, base, head)}"
        p50 = _cell(base.get(m.p50), head.get(m.p50), "ms")
        if None not in (base.get(m.p50), head.get(m.p50)) and base[m.p50] != head[m.p50]:
            p50 += f", {verdict(m.p50, base, head)}"
        accuracy = _cell(base.get(m.accuracy), head.get(m.accuracy), "pct")
        if None not in (base.get(m.accuracy), head.get(m.accuracy)) and base[m.accuracy] != head[m.accuracy]:
            accuracy += accuracy_noise((accuracy_changes or {}).get(name, "no per-image predictions were compared"))
        cells = [accuracy, against_dense_cell(name, head), _cell(base.get(m.sparsity), head.get(m.sparsity), "pct"),
                 _cell(base.get(m.size), head.get(m.size), "bytes"), _cell(base.get(m.gzip), head.get(m.gzip), "bytes"),
                 _cell(base.get(m.macs), head.get(m.macs), "macs") if m.macs else "–", p50, speed]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def changed(base: Flat, head: Flat, timings: bool) -> list[str]:
    """The dotted keys whose value differs between base and head, timings or the exact fields only."""
    keys = sorted(set(base) | set(head))
    return [k for k in keys if is_timing(k) == timings and base.get(k) != head.get(k)
            and not (isinstance(base.get(k), float) and isinstance(head.get(k), float)
                     and math.isnan(base[k]) and math.isnan(head[k]))]


def _change(old: Any, new: Any) -> str:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        return f"{_number(new - old) if new < old else '+' + _number(new - old)}{_relative(old, new)}"
    return "new" if old is None else "removed" if new is None else "changed"


def exact_changes_table(base: Flat, head: Flat) -> list[str]:
    """The Markdown rows of every changed field that repeats exactly on a rerun (empty: none changed)."""
    keys = changed(base, head, timings=False)
    if not keys:
        return []
    return ["| metric | base | head | change |", "|---|---|---|---|",
            *(f"| {k} | {_number(base.get(k))} | {_number(head.get(k))} | {_change(base.get(k), head.get(k))} |"
              for k in keys)]


def timings_section(base: Flat, head: Flat) -> tuple[str, list[str]]:
    """(one-line summary, Markdown rows) of the changed wall-clock fields, beyond-noise ones first."""
    keys = changed(base, head, timings=True)
    judged = [(k, verdict(k, base, head)) for k in keys]
    order = {"beyond noise": 0, "within noise": 1, "no noise measure": 2, "noise measure": 3}

    def size(key: str) -> float:
        old, new = base.get(key), head.get(key)
        return abs((new - old) / old) if isinstance(old, (int, float)) and isinstance(new, (int, float)) and old else 0.0

    judged.sort(key=lambda kv: (order[kv[1]], -size(kv[0]), kv[0]))
    counts = {v: sum(1 for _, j in judged if j == v) for v in order}
    summary = (f"{len(keys)} timing fields changed: {counts['beyond noise']} beyond the noise the runs measured "
               f"themselves, {counts['within noise']} within it, {counts['no noise measure']} without a noise measure"
               f" ({counts['noise measure']} are the noise measures)")
    rows = ["| timing | base | head | change | noise |", "|---|---|---|---|---|",
            *(f"| {k} | {_number(base.get(k))} | {_number(head.get(k))} | {_change(base.get(k), head.get(k))} | {v} |"
              for k, v in judged)]
    return summary, rows if keys else []
