"""Size, speed and accuracy trade-offs in words: the TFLite variants against the issue's goals, and the
sparsity sweep's recommended point, each sentence worded from the measured numbers."""

from __future__ import annotations

import fnmatch
from typing import Any

import pandas as pd

from pruneflow.artifacts.results import VARYING_FIELDS
from pruneflow.report.sentences import LATENCY_NOISE, MEANINGFUL_SIZE_X, _bytes, _share
from pruneflow.report.change_words import (
    CANNOT_TELL,
    MET,
    MISSED,
    NO_PAIRED,
    budget_clause,
    no_pair,
    budget_verdict,
    difference,
    entry_of,
)

# The targets, checked in every report: gzip dense float Keras → best pruned int8 TFLite
# at ≤ 1 pt accuracy loss, and a pruned variant ≥ 1.3x faster than dense float TFLite at batch 1.
GOAL_GZIP_X, GOAL_ACCURACY_LOSS_PTS, GOAL_SPEEDUP_X = 13.0, 1.0, 1.3


def _speed(x: float, versus: str) -> str:
    """A measured speed ratio (>1: faster) as faster / slower / no measurable change against `versus`."""
    if x >= 1 + LATENCY_NOISE:
        return f"runs {x:.2f}x faster than {versus}"
    if x <= 1 - LATENCY_NOISE:
        return f"runs {1 / x:.2f}x slower than {versus}"
    return (f"runs at {x:.2f}x the speed of {versus}: no measurable speed change (inside the "
            f"±{_share(LATENCY_NOISE)} run-to-run noise)")


def _cause(overall_x: float, same_format_x: float) -> str:
    """What made a pruned variant's speed differ from dense float TFLite: pruning, the format, or neither.

    Args:
        overall_x: its speed-up over the dense float TFLite file.
        same_format_x: its speed-up over the dense model in the same format (pruning alone).

    Returns:
        The clause that follows "so".
    """
    if same_format_x >= 1 + LATENCY_NOISE:
        return "pruning itself made it faster"
    if same_format_x <= 1 - LATENCY_NOISE:
        return "pruning itself made it slower"
    if overall_x >= 1 + LATENCY_NOISE:
        return "the gain comes from the format, not from pruning"
    if overall_x <= 1 - LATENCY_NOISE:
        return "the loss comes from the format, not from pruning"
    return "neither the format nor pruning changed the speed measurably"


def sparse_encoding_sentence(sparse: dict[str, Any], dense_encoded: dict[str, Any], key: str) -> str:
    """What storing the pruned weights sparse changed: bytes, and the measured batch-1 speed.

    Args:
        sparse: the `pruned.sparse` variant's metrics.
        dense_encoded: the `pruned.float` variant's metrics (same weights, dense storage).
        key: the thread-count entry to compare (`threads_1`).

    Returns:
        The "Sparse encoding" sentence.
    """
    saved_x = dense_encoded["size_bytes"] / sparse["size_bytes"]
    size = f"{saved_x:.2f}x smaller" if saved_x >= MEANINGFUL_SIZE_X else f"no smaller: {saved_x:.2f}x"
    x = dense_encoded[key]["batch1_p50_ms"] / sparse[key]["batch1_p50_ms"]
    speed = _speed(x, "the same pruned model dense-encoded")
    # Why no speed-up is expected: XNNPACK densifies the weights on load. Said only where it applies:
    # speed inside the noise, and the file actually ran on XNNPACK.
    why = ("; XNNPACK densifies the weights when it loads the file, unless its sparse (NCHW) inference path engages"
           if abs(x - 1) < LATENCY_NOISE and sparse.get("delegate", "xnnpack") == "xnnpack" else "")
    return (f"Sparse encoding: pruned.sparse is {_bytes(sparse['size_bytes'])} raw vs {_bytes(dense_encoded['size_bytes'])} "
            f"dense-encoded ({size}), and {speed}{why}.")


def _gzip_phrase(metrics: dict[str, Any], v: dict[str, Any]) -> str:
    return (f"{_bytes(v['size_gzip_bytes'])} gzipped, {v['gzip_ratio_vs_dense_keras_x']:.2f}x smaller than the gzipped "
            f"dense float Keras file ({_bytes(metrics['dense']['size_keras_gzip_bytes'])})")


def _gzip_goal(v: dict[str, Any]) -> str:
    ratio = v["gzip_ratio_vs_dense_keras_x"]
    return "meets" if ratio >= GOAL_GZIP_X else f"falls short of (by {GOAL_GZIP_X / ratio:.2f}x)"


def smallest_within_sentence(metrics: dict[str, Any], pruned: dict[str, dict[str, Any]]) -> str:
    """The smallest pruned file whose loss against dense (same format, paired) is shown within the
    accuracy goal: met when its whole 95 % CI lies above −GOAL_ACCURACY_LOSS_PTS. Without one met, the
    smallest file the test set cannot judge is named as "cannot tell with this test set", not as a pick."""
    sig = metrics["significance"]
    budget = GOAL_ACCURACY_LOSS_PTS
    entries = {n: e for n in pruned if (e := entry_of(sig, n)) is not None}
    verdicts = {n: budget_verdict(e, budget) for n, e in entries.items()}
    unjudged = [n for n in pruned if n not in entries]
    rest = (f" Not judged (no paired comparison with a dense file of the same format): {', '.join(unjudged)}."
            if unjudged else "")

    def smallest(verdict: str) -> str | None:
        names = [n for n, v in verdicts.items() if v == verdict]
        return max(names, key=lambda n: pruned[n]["gzip_ratio_vs_dense_keras_x"]) if names else None

    rule = (f"met: the whole paired 95 % CI of its difference from dense in the same format lies above "
            f"−{budget:g} pt")
    best = smallest(MET)
    if best is not None:
        v, e = pruned[best], entries[best]
        open_ = smallest(CANNOT_TELL)
        bigger = "" if open_ is None or (pruned[open_]["gzip_ratio_vs_dense_keras_x"]
                                         <= v["gzip_ratio_vs_dense_keras_x"]) else (
            f"; the smaller {open_} ({pruned[open_]['gzip_ratio_vs_dense_keras_x']:.2f}x): "
            f"{budget_clause(entries[open_], budget)}")
        return (f"Smallest pruned file within {budget:g} pt of dense accuracy ({rule}): {best}, {_gzip_phrase(metrics, v)} "
                f"at {v['test_accuracy_pct']:.1f} % ({difference(e, best, e['reference'])}); it {_gzip_goal(v)} the "
                f"{GOAL_GZIP_X:g}x goal{bigger}.{rest}")
    open_ = smallest(CANNOT_TELL)
    if open_ is not None:
        v, e = pruned[open_], entries[open_]
        return (f"No pruned file is shown to be within {budget:g} pt of dense accuracy on {e['n']:,} test images "
                f"({rule}): the smallest the test set cannot rule out, {open_}, {_gzip_phrase(metrics, v)} at "
                f"{v['test_accuracy_pct']:.1f} % — {budget_clause(e, budget)}: "
                f"{difference(e, open_, e['reference'])}.{rest}")
    missed = ", ".join(f"{n} ({budget_clause(entries[n], budget)})" for n, verdict in verdicts.items() if verdict == MISSED)
    return (f"No pruned variant is within {budget:g} pt of the dense model's accuracy: "
            f"{missed or 'none has a paired comparison'} — missed.{rest}")


def deployment_sentences(metrics: dict[str, Any]) -> list[str]:
    """What the TFLite variants show: size goal, speed goal, what pruning alone changed, runtimes used.

    Args:
        metrics: metrics.json with its `variants` section.

    Returns:
        The sentences, or [] without variants.
    """
    variants = metrics.get("variants") or {}
    if "dense.float" not in variants:
        return []
    base = variants["dense.float"]
    threads = sorted((k for k in base if k.startswith("threads_")), key=lambda k: int(k.split("_")[1]))
    key = threads[0] if threads else None
    keras_acc = metrics["dense"]["test_accuracy_pct"]
    out = []
    pruned = {n: v for n, v in variants.items() if not n.startswith("dense.")}
    if metrics.get("significance"):
        out.append(smallest_within_sentence(metrics, pruned))
    else:
        within = {n: v for n, v in pruned.items() if keras_acc - v["test_accuracy_pct"] <= GOAL_ACCURACY_LOSS_PTS}
        if within:
            best = max(within, key=lambda n: within[n]["gzip_ratio_vs_dense_keras_x"])
            v = within[best]
            out.append(f"Smallest pruned file within {GOAL_ACCURACY_LOSS_PTS:g} pt of dense accuracy: {best}, "
                       f"{_gzip_phrase(metrics, v)} at {v['test_accuracy_pct']:.1f} % "
                       f"({v['test_accuracy_pct'] - keras_acc:+.1f} pts; {NO_PAIRED}); it {_gzip_goal(v)} the "
                       f"{GOAL_GZIP_X:g}x goal.")
        else:
            out.append(f"No pruned variant is within {GOAL_ACCURACY_LOSS_PTS:g} pt of the dense model's accuracy "
                       f"({NO_PAIRED}).")
    if key:
        speeds = {n: v[key].get("batch1_vs_dense_float_x") for n, v in pruned.items() if key in v}
        speeds = {n: x for n, x in speeds.items() if x is not None}
        if speeds:
            fastest = max(speeds, key=speeds.get)
            same = pruned[fastest][key].get("batch1_vs_dense_same_format_x")
            verdict = "meets" if speeds[fastest] >= GOAL_SPEEDUP_X else "misses"
            alone = "" if same is None else (
                f"; against the dense model in the same format it is {same:.2f}x, so {_cause(speeds[fastest], same)}")
            out.append(f"Fastest pruned variant at batch 1 ({key.replace('_', ' ')}): {fastest}, p50 "
                       f"{pruned[fastest][key]['batch1_p50_ms']:.3f} ms vs {base[key]['batch1_p50_ms']:.3f} ms for dense float "
                       f"TFLite, {speeds[fastest]:.2f}x — it {verdict} the {GOAL_SPEEDUP_X:g}x goal{alone}.")
        sparse, float_enc = variants.get("pruned.sparse", {}), variants.get("pruned.float", {})
        if key in sparse and key in float_enc:
            out.append(sparse_encoding_sentence(sparse, float_enc, key))
    fallback = [n for n, v in variants.items() if v.get("delegate", "xnnpack") != "xnnpack"]
    if fallback:
        reason = variants[fallback[0]]["delegate"].split(": ", 1)[-1].split("Node number")[0].strip(" .)")
        out.append(f"{', '.join(fallback)}: XNNPACK refused the file ({reason}), "
                   "so it ran on TFLite's built-in kernels; its latency is not comparable with the XNNPACK rows.")
    return out


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
