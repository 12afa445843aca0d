"""The sparsity sweep in words: its table as the report shows it (`sweep_rows`), each uniform point's
loss against dense judged by its paired 95 % CI (`sweep_verdicts`), the recommended point — the highest
sparsity whose loss is met (`sweep_recommendation`) —, what a rerun of the table repeats
(`rerun_sentence`), and the sensitivity-derived targets against uniform at the same overall sparsity
(`sweep_sentences`); each sentence worded from the measured numbers."""

from __future__ import annotations

import fnmatch
from typing import Any

import pandas as pd

from pruneflow.artifacts.results import VARYING_FIELDS
from pruneflow.report.change_words import (
    CANNOT_TELL,
    MET,
    MISSED,
    budget_clause,
    budget_verdict,
    difference,
    entry_of,
    no_pair,
)
from pruneflow.report.numbers import _bytes

# The sweep table's columns as the report shows them: raw name → header.
SWEEP_COLUMNS = {"point": "point", "sparsity_prunable_pct": "zeros % (prunable)", "test_accuracy_pct": "accuracy %",
                 "accuracy_change_pts": "vs dense, pts", "int8_test_accuracy_pct": "int8 accuracy %",
                 "gzip_kb": "float gzip kB", "bound_kb": "gzip bound kB", "gzip_ratio_x": "x smaller",
                 "int8_gzip_kb": "int8 gzip kB", "float_p50_ms": "float p50 ms", "int8_p50_ms": "int8 p50 ms"}


def sweep_verdicts(sweep: pd.DataFrame, budget_pts: float, sig: dict[str, Any],
                   main_point: str | None = None) -> dict[str, str]:
    """Each uniform point's loss against dense judged by its paired 95 % CI: met, missed or "cannot tell
    with this test set" (points without a paired comparison are left out)."""
    out = {}
    for point in sweep.loc[sweep["kind"] == "uniform", "point"]:
        entry = entry_of(sig, point, main_point)
        if entry is not None:
            out[point] = budget_verdict(entry, budget_pts)
    return out


def _highest(rows: pd.DataFrame) -> pd.Series | None:
    """The row with the highest target sparsity (ties: the more accurate), None for no rows."""
    return None if rows.empty else rows.sort_values(["target_sparsity", "test_accuracy_pct"]).iloc[-1]


def sweep_recommendation(sweep: pd.DataFrame, budget_pts: float, sig: dict[str, Any] | None = None,
                         main_point: str | None = None) -> pd.Series | None:
    """The uniform point with the highest target sparsity whose loss against dense is within `budget_pts`
    (ties: the more accurate); None when none is.

    With `sig` (metrics.json's `significance`) "within" means met: the whole paired 95 % CI lies above
    −budget_pts; without it (a run from before issue 26), the point estimate is at most budget_pts below.
    `main_point`: the sweep table's name of the main prune (`pruned` in `sig`).
    """
    uniform = sweep[sweep["kind"] == "uniform"]
    if sig:
        met = [p for p, verdict in sweep_verdicts(sweep, budget_pts, sig, main_point).items() if verdict == MET]
        return _highest(uniform[uniform["point"].isin(met)])
    dense = float(sweep.loc[sweep["kind"] == "dense", "test_accuracy_pct"].iloc[0])
    return _highest(uniform[uniform["test_accuracy_pct"] >= dense - budget_pts - 1e-9])


def rerun_sentence(reproducibility: dict[str, Any] | None, columns: dict[str, str]) -> str:
    """What a rerun of the table would repeat, claiming no more than metrics.json states.

    Args:
        reproducibility: metrics.json's `reproducibility` entry (`varies_run_to_run`: field globs), or
            None for a metrics file written before evaluate recorded one.
        columns: the table's columns, raw name → shown name.

    Returns:
        One sentence: the wall-clock columns, whether the others repeat exactly, and that another seed
        moves the accuracies by an amount one seed cannot measure.
    """
    # Without the run's own statement, the library's globs still say which columns are wall-clock timings,
    # but nothing says the rest repeated: such a run may predate deterministic training.
    globs = VARYING_FIELDS if reproducibility is None else reproducibility.get("varies_run_to_run", ())
    timed = [shown for raw, shown in columns.items() if any(fnmatch.fnmatchcase(raw, glob) for glob in globs)]
    names = ", ".join(timed[:-1]) + " and " + timed[-1] if len(timed) > 1 else "".join(timed)
    if reproducibility is None:
        kind = "are wall-clock timings that vary" if len(timed) > 1 else "is a wall-clock timing that varies"
        timings = f"{names} {kind} run to run; " if timed else ""
        rerun = (f"{timings}this run's metrics.json has no reproducibility statement, so no column is claimed to "
                 "repeat exactly on a rerun")
    else:
        rerun = ("a rerun with the same params and data on the same machine repeats every column exactly"
                 + (f" except {names}, which vary run to run (metrics.json: reproducibility.varies_run_to_run)" if timed
                    else " (metrics.json: reproducibility)"))
    return f"{rerun[0].upper()}{rerun[1:]}; another seed moves the accuracies by an amount this single-seed sweep does not measure."


def sweep_sentences(sweep: pd.DataFrame, budget_pts: float, test_samples: int,
                    reproducibility: dict[str, Any] | None = None, sig: dict[str, Any] | None = None,
                    main_point: str | None = None) -> list[str]:
    """The recommendation within the accuracy budget, what a rerun repeats, and uniform vs derived targets.

    Args:
        sweep: the sweep table (a dense row, uniform points, maybe a derived one; its channel rows are
            not sparsity points and are left to the channel section).
        budget_pts: `sweep.accuracy_budget_pts`.
        test_samples: test images, to say what one image is worth in points.
        reproducibility: metrics.json's `reproducibility` entry, or None when it has none.
        sig: metrics.json's `significance` (paired CIs), None for a run from before it: then the
            recommendation and the derived comparison rest on point estimates, and say so.
        main_point: the sweep table's name of the main prune, `pruned` in `sig`.

    Returns:
        The sweep section's sentences, the recommendation (or its absence) first.
    """
    dense = sweep[sweep["kind"] == "dense"].iloc[0]
    pick = sweep_recommendation(sweep, budget_pts, sig, main_point)
    out = []
    if sig:
        out.append(_judged_recommendation(sweep, budget_pts, sig, main_point))
    elif pick is None:
        best = sweep[sweep["kind"] == "uniform"].sort_values("test_accuracy_pct").iloc[-1]
        out.append(f"No sweep point stays within the {budget_pts:g}-point accuracy budget (sweep.accuracy_budget_pts): "
                   f"the best, {best['point']}, scores {best['test_accuracy_pct']:.1f} % vs {dense['test_accuracy_pct']:.1f} % "
                   "dense. Lower the sparsities, prune longer, or widen the budget.")
    else:
        higher = sweep[(sweep["kind"] == "uniform") & (sweep["target_sparsity"] > pick["target_sparsity"])]
        beyond = "" if higher.empty else (
            f"; the next step up, {higher.sort_values('target_sparsity').iloc[0]['point']}, scores "
            f"{higher.sort_values('target_sparsity').iloc[0]['test_accuracy_pct']:.1f} %")
        out.append(f"Recommended: {pick['point']} — the highest sparsity within the {budget_pts:g}-point budget "
                   f"(sweep.accuracy_budget_pts): {pick['test_accuracy_pct']:.1f} % test accuracy vs "
                   f"{dense['test_accuracy_pct']:.1f} % dense ({pick['accuracy_change_pts']:+.1f} pts), "
                   f"{_bytes(int(pick['tflite_gzip_bytes']))} gzipped float TFLite ({pick['gzip_ratio_x']:.2f}x smaller than "
                   f"dense; the bound at its sparsity is {_bytes(int(pick['gzip_bound_bytes']))}), "
                   f"{_bytes(int(pick['int8_tflite_gzip_bytes']))} as gzipped int8{beyond}.")
    out.append(f"One test image is {100 / test_samples:.2f} points here. {rerun_sentence(reproducibility, SWEEP_COLUMNS)}")
    derived = sweep[sweep["kind"] == "derived"]
    if not derived.empty:
        d = derived.iloc[0]
        uniform = sweep[(sweep["kind"] == "uniform") & (sweep["target_sparsity"] == d["target_sparsity"])
                        & (sweep["schedule"] == d["schedule"])]
        if not uniform.empty:
            u = uniform.iloc[0]
            diff = d["test_accuracy_pct"] - u["test_accuracy_pct"]
            pair = next((e for key, e in (sig or {}).get("pairs", {}).items() if key.startswith(f"{d['point']} vs ")),
                        None)
            if pair is None:
                verdict = ("better than" if diff > 0 else "worse than" if diff < 0 else "the same as")
                verdict = f"{verdict} uniform"
                why = f"; {no_pair(sig)}"
            else:
                verdict = (("better than" if pair["diff_pts"] > 0 else "worse than") if pair["differs"]
                           else "cannot be told apart from") + " uniform"
                why = f"; {difference(pair, 'derived', 'uniform')}"
            out.append(f"Sensitivity-derived per-layer targets at {d['target_sparsity']:g} overall "
                       f"({d['sparsity_prunable_pct']:.1f} % of the prunable weights zero, uniform "
                       f"{u['sparsity_prunable_pct']:.1f} %): {d['test_accuracy_pct']:.1f} % test accuracy vs "
                       f"{u['test_accuracy_pct']:.1f} % uniform, {diff:+.1f} pts ({abs(diff) * test_samples / 100:.0f} test "
                       f"images) — {verdict}; gzipped float TFLite {_bytes(int(d['tflite_gzip_bytes']))} vs "
                       f"{_bytes(int(u['tflite_gzip_bytes']))}{why}.")
    return out


def _judged_recommendation(sweep: pd.DataFrame, budget_pts: float, sig: dict[str, Any],
                           main_point: str | None) -> str:
    """The recommendation by the paired CI: the highest-sparsity point whose drop is met; else the
    highest-sparsity point not missed, named as "cannot tell with this test set" and not recommended."""
    dense = sweep[sweep["kind"] == "dense"].iloc[0]
    verdicts = sweep_verdicts(sweep, budget_pts, sig, main_point)
    uniform = sweep[sweep["kind"] == "uniform"]
    rule = (f"rule: the highest-sparsity uniform point whose whole paired 95 % CI against dense lies above "
            f"−{budget_pts:g} pt, the {budget_pts:g}-point budget of sweep.accuracy_budget_pts, is recommended")

    def judged(row: pd.Series) -> str:
        entry = entry_of(sig, row["point"], main_point)
        return (f"{row['test_accuracy_pct']:.1f} % test accuracy vs {dense['test_accuracy_pct']:.1f} % dense "
                f"({difference(entry, row['point'], 'dense')})")

    pick = _highest(uniform[uniform["point"].map(verdicts.get) == MET])
    if pick is not None:
        higher = uniform[uniform["target_sparsity"] > pick["target_sparsity"]].sort_values("target_sparsity")
        beyond = ""
        if not higher.empty:
            nxt = higher.iloc[0]
            entry = entry_of(sig, nxt["point"], main_point)
            beyond = (f"; the next step up, {nxt['point']}, scores {nxt['test_accuracy_pct']:.1f} %"
                      + (f" — {budget_clause(entry, budget_pts)}" if entry is not None else ""))
        return (f"Recommended: {pick['point']} — its drop is met ({rule}): {judged(pick)}; "
                f"{_bytes(int(pick['tflite_gzip_bytes']))} gzipped float TFLite ({pick['gzip_ratio_x']:.2f}x smaller "
                f"than dense; the bound at its sparsity is {_bytes(int(pick['gzip_bound_bytes']))}), "
                f"{_bytes(int(pick['int8_tflite_gzip_bytes']))} as gzipped int8{beyond}.")
    unsure = _highest(uniform[uniform["point"].map(verdicts.get) == CANNOT_TELL])
    if unsure is not None:
        entry = entry_of(sig, unsure["point"], main_point)
        return (f"No sweep point is shown to stay within the {budget_pts:g}-point accuracy budget on {entry['n']:,} test "
                f"images ({rule}), so none is recommended: the highest-sparsity point the test set cannot rule out, "
                f"{unsure['point']} — {budget_clause(entry, budget_pts)}: {judged(unsure)}. A larger test set would "
                "decide it (see How sure are these differences?).")
    best = _highest(uniform[uniform["point"].map(verdicts.get) == MISSED].sort_values("test_accuracy_pct").tail(1))
    detail = "" if best is None else (f": the best, {best['point']} — "
                                      f"{budget_clause(entry_of(sig, best['point'], main_point), budget_pts)}")
    return (f"No sweep point stays within the {budget_pts:g}-point accuracy budget (sweep.accuracy_budget_pts): every "
            f"judged point missed it{detail}. Lower the sparsities, prune longer, or widen the budget.")


def sweep_rows(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep table as the report shows it (SWEEP_COLUMNS, rounded; plus MACs where the table has them:
    what the channel points change and the unstructured points do not)."""
    shown = sweep.assign(
        gzip_kb=(sweep["tflite_gzip_bytes"] / 1e3).round(0), bound_kb=(sweep["gzip_bound_bytes"] / 1e3).round(0),
        int8_gzip_kb=(sweep["int8_tflite_gzip_bytes"] / 1e3).round(0))
    columns = dict(SWEEP_COLUMNS)
    if "macs" in sweep:
        shown["macs_m"] = sweep["macs"] / 1e6
        columns["macs_m"] = "MACs (M)"
    digits = {c: 3 if c.endswith("_ms") else 2 for c in columns if c != "point"}
    return shown[list(columns)].round(digits).rename(columns=columns)
