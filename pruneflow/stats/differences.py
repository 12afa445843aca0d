"""Every accuracy difference of a run, paired on the same test images (no TensorFlow).

The evaluate stage gathers each model's predicted class per test image into one table
(`paths.predictions`: `actual`, then one column per model and TFLite file) and compares, with
`pruneflow.stats.paired`:

- every model against dense: Keras against Keras, and each TFLite file against dense's file of the
  same format (`pruned.int8` against `dense.int8`): a format's own loss is not the pruning's;
- the channel-pruned model against the uniform-width baseline (the from-scratch twin);
- each pruned model's int8 file against its float TFLite twin, where a loss of more than
  `INT8_COLLAPSE_PTS` is flagged (`int8_collapse`): int8 should cost a fraction of a point.

Names: the main prune is `pruned` here, `unstructured` in channel_bench's table and its sweep point's
name (`0.9-polynomial`) in the sweep table; `pruneflow.report.change_words.entry_of` resolves all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.artifacts.points import PREDICTION_COLUMNS, PREDICTIONS_FILE, is_model, read_point
from pruneflow.config.params import Config
from pruneflow.errors import PipelineError, require
from pruneflow.stats.paired import Paired, drop_verdict, paired, resolving_size

INT8_COLLAPSE_PTS = 2.0   # an int8 file this many points below its float twin is flagged in the report and `make show`
RESOLVE_PTS = 0.5         # the report says how many test images would resolve a difference this small
TFLITE_SUFFIXES = {"float": ".float", "int8": ".int8"}  # a point's predictions.csv columns → table column suffix


def point_folders(cfg: Config) -> dict[str, tuple[Path, str]]:
    """Every trained point whose folder holds a `predictions.csv`: its table name → (folder, producer).

    Names are those of the channel_bench table (channel models) and the sweep table (sweep points);
    a channel model (channel point, stacked, uniform-width baseline, budgeted model) is left out where its
    `point.json` says it is no model (a plan that removes nothing, a baseline that does not apply, a budget
    no allocation reaches).
    """
    p = cfg.paths
    folders: dict[str, tuple[Path, str]] = {}
    main = cfg.main_point()
    for point in cfg.uniform_points():
        if point != main:
            folders[point.name] = (p.sweep / point.name, f"sweep_point --sparsity {point.sparsity} --schedule {point.schedule}")
    if cfg.sensitivity.derive:
        folders[read_point(p.derived, "sweep_derived")["point"]] = (p.derived, "sweep_derived")
    channels = {"channel": (p.channel, "channel_prune"),
                **{f"channel-{keep}": (p.channel_sweep / str(keep), f"channel_point --keep {keep}")
                   for keep in cfg.channels.sweep_keeps},
                "stacked": (p.stacked, "stacked"), "uniform_width": (p.uniform_baseline, "uniform_baseline"),
                **{f"budget-{b.name}": (p.channel_budget / b.name, "channel_budget") for b in cfg.channels.budgets()}}
    for name, (folder, producer) in channels.items():
        if is_model(read_point(folder, producer)):  # a point that is no model wrote only why (no predictions)
            folders[name] = (folder, producer)
    return folders


def point_columns(cfg: Config, classes: tuple[str, ...], images: int) -> dict[str, list[str]]:
    """Each point's predicted classes as table columns: `<name>` (Keras), `<name>.float`, `<name>.int8`.

    Raises:
        PipelineError: a point's predictions are missing, or cover another number of test images.
    """
    columns: dict[str, list[str]] = {}
    for name, (folder, producer) in point_folders(cfg).items():
        frame = pd.read_csv(require(folder / PREDICTIONS_FILE, producer))
        if list(frame.columns) != list(PREDICTION_COLUMNS) or len(frame) != images:
            raise PipelineError(f"{folder / PREDICTIONS_FILE}: not {images} rows of {', '.join(PREDICTION_COLUMNS)}; "
                                f"run `python -m pruneflow {producer}` (or dvc repro) again")
        for column in PREDICTION_COLUMNS:
            columns[name + TFLITE_SUFFIXES.get(column, "")] = [classes[i] for i in frame[column]]
    return columns


def _entry(result: Paired, reference: str, budget_pts: float) -> dict[str, Any]:
    return {"reference": reference, **result.as_dict(), "differs": result.differs(),
            "drop_verdict": drop_verdict(result, budget_pts)}


def significance(table: pd.DataFrame, budget_pts: float) -> dict[str, Any]:
    """The run's paired comparisons (module docstring) from the predictions table.

    Args:
        table: `actual` and one predicted-class column per model / TFLite file, one row per test image.
        budget_pts: the accuracy budget a drop is judged against (`sweep.accuracy_budget_pts`).

    Returns:
        metrics.json's `significance` section.
    """
    actual = table["actual"].to_numpy()
    models = [c for c in table.columns if c != "actual"]

    def compare(reference: str, other: str) -> dict[str, Any]:
        return _entry(paired(actual, table[reference].to_numpy(), table[other].to_numpy()), reference, budget_pts)

    against: dict[str, Any] = {}
    for name in models:
        base, fmt = split_column(name)
        reference = "dense" if not fmt else f"dense.{fmt}"
        if reference not in table and fmt:  # no dense file of that format: the one it encodes
            reference = f"dense.{SAME_ARITHMETIC[fmt]}"
        if base != "dense" and reference in table:
            against[name] = compare(reference, name)
    int8 = {}
    for name in models:
        base, fmt = split_column(name)
        if fmt == "int8" and base != "dense" and f"{base}.float" in table:
            int8[base] = compare(f"{base}.float", name)
    dense_error = 1.0 - float((table["dense"] == table["actual"]).mean())
    out: dict[str, Any] = {
        "method": "paired: the same test images; CI: pruneflow.significance (docs/statistics.md); "
                  "p: exact McNemar on the discordant images",
        "test_images": int(len(table)),
        "budget_pts": budget_pts,
        "resolve_pts": RESOLVE_PTS,
        "dense_error_pct": 100.0 * dense_error,
        "resolving_images": resolving_size(max(dense_error, 1.0 / len(table)), RESOLVE_PTS),
        "against_dense": against,
        "int8_vs_float": int8,
        "int8_collapse": sorted(name for name, entry in int8.items() if entry["diff_pts"] < -INT8_COLLAPSE_PTS),
        "int8_collapse_pts": INT8_COLLAPSE_PTS,
    }
    if "channel" in table and "uniform_width" in table:
        out["channel_vs_uniform_width"] = compare("uniform_width", "channel")
    # Other pairs the report judges: sensitivity-derived targets against the uniform point at the same
    # sparsity, and greedy widths against uniform widths at the same latency budget (Keras and int8).
    others = {}
    for name in models:
        base, fmt = split_column(name)
        if base.startswith("derived-") and not fmt:
            twin = _uniform_twin(base, models)
            if twin:
                others[f"{name} vs {twin}"] = compare(twin, name)
        if base.startswith("budget-") and base.endswith("-greedy"):
            twin = name.replace("-greedy", "-uniform")
            if twin in table:
                others[f"{name} vs {twin}"] = compare(twin, name)
    out["pairs"] = others
    return out


# The TFLite formats a predictions column can end with (`pruned.int8`, `0.95-polynomial.float`).
FORMATS = ("float", "int8", "dynamic_range", "sparse", "sparse_int8")
# Where dense has no file of a format, a file is compared with dense's file of the same arithmetic.
SAME_ARITHMETIC = {"float": "float", "int8": "int8", "dynamic_range": "float", "sparse": "float", "sparse_int8": "int8"}


def split_column(name: str) -> tuple[str, str]:
    """A predictions column as (model, format): `pruned.int8` → (pruned, int8); a Keras model's column
    has no format (`0.95-polynomial` → (0.95-polynomial, ''): a sweep point's name has dots)."""
    base, _, fmt = name.rpartition(".")
    return (base, fmt) if base and fmt in FORMATS else (name, "")


def _uniform_twin(derived: str, models: list[str]) -> str | None:
    """The uniform point a derived point (`derived-0.9`) is compared with: the sweep point at that
    sparsity (`0.9-polynomial`: sensitivity.target_sparsity is a polynomial point), else the main prune (`pruned`: the main prune's target)."""
    target = derived.removeprefix("derived-")
    found = [m for m in models if m == f"{target}-polynomial"]  # derived targets are polynomial points
    return found[0] if found else ("pruned" if "pruned" in models else None)


# ---- the printed table (`make show`, the evaluate stage's log) and the report's table

def significance_rows(sig: dict[str, Any]) -> pd.DataFrame:
    """One row per paired comparison: every model and file against dense of its format (with its verdict
    against the accuracy budget), channel against the uniform-width baseline, the other judged pairs, and
    every int8 file against its float twin (flagged when it collapses)."""
    budget = sig["budget_pts"]
    collapsed = set(sig.get("int8_collapse", ()))
    groups: list[tuple[str, dict[str, Any]]] = [("", sig.get("against_dense", {}))]
    if "channel_vs_uniform_width" in sig:
        groups.append(("", {"channel": sig["channel_vs_uniform_width"]}))
    groups += [("pair", sig.get("pairs", {})), ("int8", sig.get("int8_vs_float", {}))]
    rows = []
    for kind, entries in groups:
        for name, e in entries.items():
            model = name.split(" vs ")[0] if kind == "pair" else f"{name}.int8" if kind == "int8" else name
            verdict = ("a real gain" if e["diff_pts"] > 0 else "a real loss") if e["differs"] else "not distinguishable from no change"
            if kind == "" and e["reference"].split(".")[0] == "dense":
                verdict += f"; ≤ {budget:g} pt loss: {e['drop_verdict']}"
            if kind == "int8" and name in collapsed:
                verdict += f"; INT8 COLLAPSE (> {sig['int8_collapse_pts']:g} pt below float)"
            rows.append({"model": model, "reference": e["reference"], "difference pts": f"{e['diff_pts']:+.1f}",
                         "95 % CI pts": f"{e['ci_low_pts']:+.1f} to {e['ci_high_pts']:+.1f}",
                         "McNemar p": f"{e['p_value']:.2g}", "lost / won": f"{e['a_only']} / {e['b_only']}",
                         "verdict": verdict})
    return pd.DataFrame(rows)


def format_significance(metrics: dict[str, Any]) -> str:
    """The paired comparisons printed after a run and by `make show` ('' for a run from before them)."""
    sig = metrics.get("significance")
    if not sig:
        return ""
    rows = significance_rows(sig)
    head = (f"Accuracy differences, paired on the same {sig['test_images']} test images (lost/won: images only the "
            f"reference / only the model gets right). A difference is real only when its 95 % CI excludes 0 and "
            f"McNemar p < 0.05; "
            f"{sig['resolving_images']:,} test images would resolve {sig['resolve_pts']:g} pt at dense's "
            f"{sig['dense_error_pct']:.1f} % error rate.")
    collapsed = sig.get("int8_collapse") or []
    if collapsed:
        head += (f"\nWARNING: int8 scores more than {sig['int8_collapse_pts']:g} pt below its float twin for "
                 f"{', '.join(collapsed)}: that int8 file is broken, not merely less precise (docs/statistics.md).")
    return head + ("\n" + rows.set_index("model").to_string() if not rows.empty else "")


# ---- two revisions (the PR comment)

# The headline's models → their predictions column.
HEADLINE_COLUMNS = {"dense": "dense", "unstructured": "pruned", "channel": "channel", "stacked": "stacked",
                    "uniform_width": "uniform_width"}


def revision_changes(base: pd.DataFrame | None, head: pd.DataFrame) -> dict[str, Paired | str]:
    """Each model's accuracy change from the base revision's predictions to the head's, paired on the test
    images (a `Paired`), or why it cannot be (a reason): the base has no predictions for the model, or
    the test set changed (then the two accuracies are of different images)."""
    out: dict[str, Paired | str] = {}
    for name, column in HEADLINE_COLUMNS.items():
        if column not in head:
            continue
        if base is None or column not in base:
            out[name] = "the base revision has no per-image predictions of this model"
        elif len(base) != len(head) or not (base["actual"].to_numpy() == head["actual"].to_numpy()).all():
            out[name] = "the test set changed: the two accuracies are of different images"
        else:
            out[name] = paired(head["actual"].to_numpy(), base[column].to_numpy(), head[column].to_numpy())
    return out
