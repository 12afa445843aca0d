"""What a reviewer reads first: the headline per model, the exact changes, then the timings judged
against the run's own noise (pure; the PR comment's sections).

Inputs are flat `{dotted key: value}` metrics of the base revision and of the workspace, with
metrics.json and timings.json merged (`dvc metrics diff --json --all` gives both). A base written before
the two files were split has its timings inside metrics.json: the dotted keys are the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pruneflow.artifacts.results import flatten
from pruneflow.evaluation.metrics import speedup_spread
from pruneflow.stats.paired import Paired
from pruneflow.artifacts.results import is_timing

Flat = Mapping[str, Any]
Verdict = Literal["beyond noise", "within noise", "no noise measure", "noise measure"]


@dataclass(frozen=True)
class HeadlineModel:
    """One headline row: the dotted key of each column (None: not known for this model)."""

    label: str
    accuracy: str
    sparsity: str
    size: str
    gzip: str
    macs: str | None
    p50: str
    speedup: str | None  # None: the reference (dense), 1.00x by definition


# The channel benchmark's models: one interleaved benchmark at the data's image size, so their p50s
# compare directly (the bench stage times batch 1 between batch-32 runs: other absolute numbers).
HEADLINE_MODELS = (("dense", "dense"), ("unstructured", "pruned, unstructured"), ("channel", "channel-pruned"),
                   ("stacked", "channel + magnitude"), ("uniform_width", "uniform narrower width"))


def headline_models(flat: Flat) -> list[HeadlineModel]:
    """The models of one run, in reading order, float TFLite at batch 1 on the first thread count: the
    channel benchmark's five when the run has them; else dense and pruned from the bench stage."""
    threads = f"threads_{flat.get('setup.latency_threads', 1)}"
    setting = f"{flat.get('data.image_size')}px_{threads}"
    models = []
    for name, label in HEADLINE_MODELS:
        c = f"channels.{name}"
        if f"{c}.test_accuracy_pct" in flat:
            models.append(HeadlineModel(label, f"{c}.test_accuracy_pct", f"{c}.sparsity_prunable_pct", f"{c}.tflite_bytes",
                                        f"{c}.tflite_gzip_bytes", f"{c}.macs", f"{c}.float_p50_{setting}_ms",
                                        None if name == "dense" else f"{c}.float_speedup_{setting}_x"))
    if models:
        return models
    return [HeadlineModel(label, f"{m}.test_accuracy_pct", f"{m}.sparsity_prunable_pct", f"{m}.size_tflite_bytes",
                          f"{m}.size_tflite_gzip_bytes", None, f"{m}.latency_p50_ms",
                          None if m == "dense" else "comparison.latency_p50_speedup_x")
            for m, label in (("dense", "dense"), ("pruned", "pruned, unstructured"))
            if any(f"{m}.{k}" in flat for k in ("test_accuracy_pct", "sparsity_prunable_pct", "size_tflite_gzip_bytes"))]


def headline_rows(flat: Flat) -> list[dict[str, str]]:
    """One run's headline (what `make show` prints first): a row per model, display strings."""
    def value(key: str | None, digits: int, scale: float = 1.0) -> str:
        v = flat.get(key) if key else None
        return "–" if v is None else _number(v * scale if scale != 1.0 else v, digits)

    return [{"model": m.label, "test accuracy %": value(m.accuracy, 1), "sparsity %": value(m.sparsity, 1),
             "bytes": value(m.size, 0), "gzip bytes": value(m.gzip, 0), "MACs (M)": value(m.macs, 2, 1e-6),
             "p50 ms": value(m.p50, 3), "speed-up vs dense": "1.00x" if m.speedup is None else _speed(m.speedup, flat)}
            for m in headline_models(flat)]


def _speed(key: str, flat: Flat) -> str:
    """A headline speed-up with the quartiles of its benchmark's paired rounds (`metrics.speedup_spread`)."""
    x, source = flat.get(key), _noise_key(key, flat)
    if x is None:
        return "–"
    q25, q75 = next(((flat[a], flat[b]) for a, b in _quartile_keys(source) if a in flat and b in flat), (None, None))
    return f"{x:.2f}x{speedup_spread(x, q25, q75, flat.get(f'{source[:-2]}_paired_median_x'))}"


def absent_lines(flat: Flat, not_applicable: Mapping[str, str] | None) -> list[str]:
    """A line per headline model the run has no model for, with channel_bench's reason (its
    `not_applicable`: a channel plan that removes nothing is no model, so it gets no row)."""
    return [f"{label}: no model — {(not_applicable or {})[name]}" for name, label in HEADLINE_MODELS
            if name in (not_applicable or {}) and f"channels.{name}.test_accuracy_pct" not in flat]


def format_headline(metrics: dict[str, Any], not_applicable: Mapping[str, str] | None = None) -> str:
    """The printed headline of one run (nested metrics, timings merged): a fixed-width table, then why
    a model is absent (`not_applicable`: channel_bench's table's, model name → reason)."""
    flat = flatten(metrics)
    rows = headline_rows(flat)
    if not rows:
        return ""
    widths = {col: max(len(col), *(len(r[col]) for r in rows)) for col in rows[0]}
    line = lambda r: "  ".join(r[c].ljust(widths[c]) if c == "model" else r[c].rjust(widths[c]) for c in widths)  # noqa: E731
    bench = "channel_bench" if headline_models(flat)[0].accuracy.startswith("channels.") else "bench"
    title = (f"Headline: float TFLite, p50 at batch 1 ({flat.get('data.image_size')} px, "
             f"{flat.get('setup.latency_threads', 1)} thread), every model in one interleaved benchmark ({bench} stage)")
    return "\n".join([title, line({c: c for c in widths}), *(line(r) for r in rows), *absent_lines(flat, not_applicable)])


# ---- noise: the run's own spread around a timing, from the same benchmark

def _noise_key(key: str, flat: Flat) -> str:
    """The bench field whose spread applies to `key`: the top-level latency and speed-up are the bench's
    float TFLite numbers at the first thread count, under their variant's name."""
    threads = f"threads_{flat.get('setup.latency_threads', 1)}"
    if key in ("dense.latency_p50_ms", "pruned.latency_p50_ms"):
        return f"variants.{key.split('.')[0]}.float.{threads}.batch1_p50_ms"
    if key == "comparison.latency_p50_speedup_x":
        return f"variants.pruned.float.{threads}.batch1_vs_dense_float_x"
    return key


def _quartile_keys(key: str) -> list[tuple[str, str]]:
    """Where the paired-ratio quartiles of a speed-up key live (bench variants, channel table)."""
    found = [(f"{key[:-2]}_paired_q25_x", f"{key[:-2]}_paired_q75_x")]
    if "_speedup_" in key:
        found.append((key.replace("_speedup_", "_speedup_paired_q25_", 1), key.replace("_speedup_", "_speedup_paired_q75_", 1)))
    if key.endswith("_paired_median_x"):
        found.append((key.replace("_median_", "_q25_"), key.replace("_median_", "_q75_")))
    return found


def noise_band(key: str, flat: Flat) -> tuple[float, float] | None:
    """The interval of values the run's own measurements cannot tell apart from `flat[key]`.

    Speed-ups: the quartiles of the per-round paired ratios. Latency statistics: ± the IQR of the
    per-run times. Throughput: ± the IQR relative to the median batch time. None when the run holds
    no spread for the key (epoch seconds, p95 ratios) or the key is a spread itself.
    """
    value = flat.get(key)
    if not isinstance(value, (int, float)) or "_iqr_" in key or "_q25_" in key or "_q75_" in key:
        return None
    key_for_noise = _noise_key(key, flat)
    if key_for_noise.endswith("_x"):
        # The quartiles' distances from the paired ratios' median (a channel speed-up is that median; the
        # bench records it beside its ratio of medians), laid around this value, which the band always holds.
        centre = flat.get(f"{key_for_noise[:-2]}_paired_median_x", flat.get(key_for_noise, value))
        for q25, q75 in _quartile_keys(key_for_noise):
            if q25 in flat and q75 in flat:
                low, high = flat[q25], flat[q75]
                centre = centre if low <= centre <= high else (low + high) / 2
                return value - (centre - low), value + (high - centre)
        return None
    if key_for_noise.endswith("_ms"):
        iqr = re.sub(r"_(p50|p95|p5|mean)_", "_iqr_", key_for_noise)
        if iqr != key_for_noise and iqr in flat:
            return value - flat[iqr], value + flat[iqr]
        return None
    if match := re.search(r"throughput_batch(\d+)_images_per_s$", key):
        stem = key[: match.start()] + f"batch{match.group(1)}_"
        if f"{stem}iqr_ms" in flat and flat.get(f"{stem}p50_ms"):
            relative = flat[f"{stem}iqr_ms"] / flat[f"{stem}p50_ms"]
            return value * (1 - relative), value * (1 + relative)
    return None


def verdict(key: str, base: Flat, head: Flat) -> Verdict:
    """Whether a timing's change from base to head exceeds the noise either run measured itself."""
    if "_iqr_" in key or "_q25_" in key or "_q75_" in key:
        return "noise measure"
    bands = [(band, other[key]) for band, other in ((noise_band(key, head), base), (noise_band(key, base), head))
             if band is not None and isinstance(other.get(key), (int, float))]
    if not bands:
        return "no noise measure"
    return "within noise" if any(lo <= v <= hi for (lo, hi), v in bands) else "beyond noise"


# ---- the sections

def _number(value: Any, digits: int | None = None) -> str:
    """A value for a table cell: thousands separators; floats to `digits` places (None: up to 4, trimmed)."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{round(value, 4):,}" if digits is None else f"{value:,.{digits}f}"


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
