"""The headline per model: which models a run has and the dotted keys of their columns
(`headline_models`: the channel benchmark's five when the run has them, else dense and pruned from the
bench stage), and one run's printed headline (`format_headline`, what `make show` prints first), with a
line for each model the run has none of. Inputs are flat `{dotted key: value}` metrics with
timings.json merged; a speed-up carries the quartiles of its benchmark's paired rounds (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pruneflow.artifacts.results import flatten
from pruneflow.evaluation.metrics import speedup_spread
from pruneflow.stats.noise import Flat, _noise_key, _quartile_keys


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


def _number(value: Any, digits: int | None = None) -> str:
    """A value for a table cell: thousands separators; floats to `digits` places (None: up to 4, trimmed)."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{round(value, 4):,}" if digits is None else f"{value:,.{digits}f}"
