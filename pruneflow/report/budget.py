"""The latency-budget section: models pruned to a batch-1 latency measured on this machine (stage
channel_budget), what each one hit, the budgets not built (unreachable on this model) and why, one goal
per configured budget, greedy against uniform widths at equal latency (with the accuracy difference's
paired confidence interval) and the latency table's prediction check.

Every number comes from the channel_bench table (reports/channels.json with its timing half: `models`,
`not_applicable`, `latency`, `prediction`; read by `pruneflow.report.budget_records`); every percentage
is computed against the figure printed beside it; every verdict from a measured figure against a named
threshold. The figure of the same models is `pruneflow.report.front`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pruneflow.report.budget_records import (
    accuracy,
    against,
    allocation_pairs,
    budget_records,
    budget_side,
    budget_wording,
    comparison_order,
    model_kind,
    off_target_pct,
    spread,
    timed,
    unbuilt_budgets,
)
from pruneflow.report.change_words import change_wording, difference, no_pair
from pruneflow.report.channels import FORMATS, SAME_ACCURACY_PTS, _verdict, _where
from pruneflow.report.numbers import LATENCY_NOISE, _share

# The goals for the budgeted models: each configured budget's own speed-up (or latency) over dense in
# its format, side and threads, at most GOAL_LOSS_PTS lost; the measured p50 near the budget; the
# table's prediction near the measured p50 of every model channel_bench timed. GOAL_THREADS: the
# comparison table's thread count.
GOAL_LOSS_PTS, GOAL_THREADS = 0.5, 1
GOAL_OFF_BUDGET_PCT, GOAL_PREDICTION_PCT = 10.0, 10.0


def targets(name: str, table: dict[str, Any], data_side: int) -> str:
    """The budget's target(s) and the measured p50 against each. A speed-up budget has two: the table's,
    set when the widths were chosen (its dense median ÷ the speed-up), and this benchmark's (its dense
    p50 ÷ the speed-up); both printed, labelled, each % against its own figure."""
    r = table["models"][name]
    b, chosen = r["budget"], r["target_ms"]
    where = _where(budget_side(r, data_side, table.get("setup")), b["threads"])
    check = table.get("prediction", {}).get("budgets", {}).get(name)
    if check is None:
        return f"target {chosen:.4f} ms (the latency table's); no measured p50 against it at {where}"
    measured, bench = check["measured_p50_ms"], check["target_ms"]
    if b.get("speedup_x") is None or round(bench, 4) == round(chosen, 4):
        return f"target {chosen:.4f} ms, measured p50 {measured:.4f} ms at {where}: {against(measured, chosen, 'the target')}"
    x, by_table, by_bench = b["speedup_x"], against(measured, chosen, "the table's target"), \
        against(measured, bench, "the benchmark's target")
    return (f"targets {chosen:.4f} ms (the latency table's dense ÷ {x:g}, when the widths were chosen) and "
            f"{bench:.4f} ms (this benchmark's dense p50 ÷ {x:g}); measured p50 {measured:.4f} ms at {where}: "
            f"{by_table}, {by_bench}")


def budget_sentence(name: str, table: dict[str, Any], data_side: int) -> str:
    """One budgeted model: budget, allocation, chosen format, target(s), measured p50 against each, the
    table's prediction, the speed-up over dense in that format, MACs and accuracy."""
    r, dense = table["models"][name], table["models"]["dense"]
    b, fmt = r["budget"], r["format"]
    keep = r.get("uniform_keep")
    how = f"{b['allocation']} allocation" + (f" (keeps {_share(keep)} of every group)" if keep is not None else "")
    entry = timed(table, name, fmt, budget_side(r, data_side, table.get("setup")), b["threads"])
    speed = (f"{entry['speedup_vs_dense_same_format_x']:.2f}x faster than dense {fmt}{spread(entry)}" if entry
             else f"not timed in {fmt}")
    int8 = (f"; int8 file {r['int8_test_accuracy_pct']:.1f} % "
            f"({r['int8_test_accuracy_pct'] - dense['int8_test_accuracy_pct']:+.2f} pts vs dense int8)" if fmt == "int8" else "")
    return (f"{name}: budget {budget_wording(b)}, {how}, format {r['format_choice']}; {targets(name, table, data_side)}; "
            f"the table predicted {r['predicted_ms'][fmt]:.4f} ms; {speed}; "
            f"{r['mac_reduction_x']:.2f}x fewer MACs; test accuracy {r['test_accuracy_pct']:.1f} % "
            f"({r['accuracy_change_pts']:+.2f} pts vs dense){int8}.")


def unbuilt_status(reason: str) -> str:
    """Why a budget was not built, in two words: channel_budget's reason says unreachable or asks for nothing."""
    return "unreachable on this model" if "unreachable" in reason else "met by dense on this model"


def unbuilt_sentence(name: str, reason: str) -> str:
    """A budget channel_budget did not build, and why (the reachable bound is in the reason)."""
    return f"{name}: {unbuilt_status(reason)}, not built — {reason}."


def budget_sentences(table: dict[str, Any], data_side: int) -> list[str]:
    """One sentence per budgeted model, in the table's order, then one per budget not built."""
    return ([budget_sentence(name, table, data_side) for name in budget_records(table)]
            + [unbuilt_sentence(name, reason) for name, reason in unbuilt_budgets(table).items()])


def _request(record: dict[str, Any]) -> tuple[Any, ...]:
    """What a budget asks for, allocation aside: greedy and uniform models of one request share a goal."""
    b = record["budget"]
    return b.get("latency_ms"), b.get("speedup_x"), b["format"], b["threads"], b.get("resolution")


def _run_wording(name: str, entry: dict[str, float], change: float, speedup: bool) -> str:
    figure = (f"{entry['speedup_vs_dense_same_format_x']:.2f}x{spread(entry)}" if speedup
              else f"{entry['p50_ms']:.4f} ms")
    return f"{name} {figure} at {change_wording(change)}"


def speed_goal(table: dict[str, Any], names: list[str], data_side: int) -> str:
    """Goal of one configured budget (its greedy and uniform models, `names`): a model that reaches the
    budget's own speed-up over dense in its format (or its latency), at its side and threads, losing
    ≤ GOAL_LOSS_PTS of that format's accuracy against dense; names the best within the loss."""
    models, dense = table["models"], table["models"]["dense"]
    b = models[names[0]]["budget"]
    side, threads, speedup = budget_side(models[names[0]], data_side, table.get("setup")), b["threads"], b.get("speedup_x") is not None
    fmt = b["format"] if b["format"] != "best" else "the chosen format"
    ask = (f"≥ {b['speedup_x']:g}x faster than dense {fmt}" if speedup else f"at ≤ {b['latency_ms']:g} ms p50 in {fmt}")
    head = (f"Goal (budget {budget_wording(b)}): a budgeted model {ask} at {_where(side, threads)}, losing "
            f"≤ {GOAL_LOSS_PTS:g} pt ({fmt} test accuracy against dense {fmt})")
    runs = []
    for name in names:
        chosen = models[name]["format"]  # a `best` budget's models may have chosen different formats
        entry = timed(table, name, chosen, side, threads)
        if entry is not None:
            runs.append((name, entry, accuracy(models[name], chosen) - accuracy(dense, chosen)))
    within = [run for run in runs if run[2] >= -(GOAL_LOSS_PTS + SAME_ACCURACY_PTS)]
    if not within:
        others = "; ".join(_run_wording(name, entry, change, speedup) for name, entry, change in runs)
        return f"{head}: no budgeted model within the loss ({others or 'none timed there'}) — missed."
    if speedup:
        name, entry, change = max(within, key=lambda run: run[1]["speedup_vs_dense_same_format_x"])
        met = entry["speedup_vs_dense_same_format_x"] >= b["speedup_x"]
    else:
        name, entry, change = min(within, key=lambda run: run[1]["p50_ms"])
        met = entry["p50_ms"] <= b["latency_ms"]
    return (f"{head}: best within the loss {_run_wording(name, entry, change, speedup)} "
            f"(of {len(within)} within it) — {_verdict(met)}.")


def off_budget_goal(table: dict[str, Any]) -> str:
    """Goal: every budgeted model's measured p50 within GOAL_OFF_BUDGET_PCT of this benchmark's target
    (the % against the target printed beside it)."""
    checks = table.get("prediction", {}).get("budgets", {})
    names = list(budget_records(table))
    parts = [f"{name} {checks[name]['measured_p50_ms']:.4f} ms vs {checks[name]['target_ms']:.4f} ms "
             f"{off_target_pct(checks[name]['measured_p50_ms'], checks[name]['target_ms']):+.1f} %"
             if name in checks else f"{name} not measured" for name in names]
    met = bool(names) and all(name in checks and abs(off_target_pct(checks[name]["measured_p50_ms"],
                                                                     checks[name]["target_ms"])) <= GOAL_OFF_BUDGET_PCT
                              for name in names)
    return (f"Goal: every budgeted model's measured p50 within {GOAL_OFF_BUDGET_PCT:g} % of its target (this "
            f"benchmark's): {'; '.join(parts) or 'no budgeted model built'} — {_verdict(met)}.")


def worst_predictions(table: dict[str, Any]) -> list[tuple[str, str, float]]:
    """Per setting of the prediction check: the model the table predicted worst and its error, %."""
    out = []
    for setting, by_model in sorted(table.get("prediction", {}).get("table", {}).items()):
        if by_model:
            model = max(by_model, key=lambda name: abs(by_model[name]["error_pct"]))
            out.append((setting, model, by_model[model]["error_pct"]))
    return out


def prediction_goal(table: dict[str, Any]) -> str:
    """Goal: the latency table predicts every channel_bench model's measured p50 within GOAL_PREDICTION_PCT."""
    head = f"Goal: the latency table's prediction within {GOAL_PREDICTION_PCT:g} % of the measured p50 for every model"
    worst = worst_predictions(table)
    if not worst:
        return f"{head}: not checked (channel_bench recorded no prediction) — missed."
    parts = "; ".join(f"{setting} worst {model} {error:+.1f} %" for setting, model, error in worst)
    return f"{head}: {parts} — {_verdict(all(abs(error) <= GOAL_PREDICTION_PCT for _, _, error in worst))}."


def budget_goals(table: dict[str, Any], data_side: int) -> list[str]:
    """One goal per configured budget (its own speed-up or latency, not a fixed one), one line per budget
    not built, then the off-budget and prediction goals; each worded met or missed with the measured figure."""
    requests: dict[tuple[Any, ...], list[str]] = {}
    for name, record in budget_records(table).items():
        requests.setdefault(_request(record), []).append(name)
    return [*(speed_goal(table, names, data_side) for names in requests.values()),
            *(f"Goal ({name}): not built, {unbuilt_status(reason)}; its line above gives the reachable bound — missed."
              for name, reason in unbuilt_budgets(table).items()),
            off_budget_goal(table), prediction_goal(table)]


def pair_entry(sig: dict[str, Any] | None, greedy: str, uniform: str, fmt: str) -> dict[str, Any] | None:
    """The paired comparison greedy − uniform in `fmt` (int8: the int8 files; float: the Keras models)
    from metrics.json's `significance.pairs`, or None for a run without it."""
    suffix = ".int8" if fmt == "int8" else ""
    return (sig or {}).get("pairs", {}).get(f"{greedy}{suffix} vs {uniform}{suffix}")


def _tell_apart(entry: dict[str, Any]) -> str:
    """The verdict of a greedy − uniform paired comparison: a difference only when it is real (its 95 % CI
    excludes zero and McNemar agrees)."""
    if not entry["differs"]:
        return "the test set cannot tell them apart"
    return f"{'greedy' if entry['diff_pts'] > 0 else 'uniform'} is more accurate (the interval excludes zero)"


def _equal_latency(greedy_ms: float, uniform_ms: float) -> str:
    """Whether two measured p50s are the same within the latency noise."""
    x = uniform_ms / greedy_ms
    if abs(x - 1) < LATENCY_NOISE:
        return f"equal within the ±{_share(LATENCY_NOISE)} latency noise"
    return f"not equal: uniform {x:.2f}x slower" if x > 1 else f"not equal: uniform {1 / x:.2f}x faster"


def allocation_sentence(table: dict[str, Any], greedy: str, uniform: str, data_side: int,
                        sig: dict[str, Any] | None = None) -> str:
    """Greedy against uniform widths for one budget: accuracy (in the chosen format) and measured p50,
    and whether the test split can tell the accuracies apart (paired 95 % CI and exact McNemar p from
    `sig`, metrics.json's `significance`; none for a run from before it)."""
    g, u = table["models"][greedy], table["models"][uniform]
    side, threads = budget_side(g, data_side, table.get("setup")), g["budget"]["threads"]
    ms = [timed(table, name, r["format"], side, threads) for name, r in ((greedy, g), (uniform, u))]
    if None in ms:
        return f"Greedy vs uniform at {budget_wording(g['budget'])}: not both timed at {_where(side, threads)}."
    acc_g, acc_u = accuracy(g, g["format"]), accuracy(u, u["format"])
    times = (f"{ms[0]['p50_ms']:.3f} vs {ms[1]['p50_ms']:.3f} ms {g['format']}" if g["format"] == u["format"] else
             f"{ms[0]['p50_ms']:.3f} ms {g['format']} vs {ms[1]['p50_ms']:.3f} ms {u['format']}")
    head = (f"Greedy vs uniform at {budget_wording(g['budget'])} ({_where(side, threads)}): greedy {acc_g:.1f} % vs "
            f"uniform {acc_u:.1f} % at {times} ({_equal_latency(ms[0]['p50_ms'], ms[1]['p50_ms'])}): "
            f"{acc_g - acc_u:+.1f} pts")
    if g["format"] != u["format"]:
        return f"{head}; files of two formats, so no paired comparison — cannot judge the difference."
    entry = pair_entry(sig, greedy, uniform, g["format"])
    if entry is None:
        return f"{head}; {no_pair(sig)} — cannot judge the difference."
    return f"{head}; paired, {difference(entry, 'greedy', 'uniform')} — {_tell_apart(entry)}."


def allocation_sentences(table: dict[str, Any], data_side: int, sig: dict[str, Any] | None = None) -> list[str]:
    """One comparison per greedy/uniform pair of budgets (none without such a pair)."""
    return [allocation_sentence(table, g, u, data_side, sig) for g, u in allocation_pairs(table)]


def budget_rows(table: dict[str, Any], data_side: int) -> pd.DataFrame:
    """The budgeted models beside dense and the uniform-keep/uniform-width models: format, target (the
    table's), batch-1 p50 and speed-up per format at the data's side and GOAL_THREADS, accuracy, MAC
    reduction; then a row per budget not built (unreachable)."""
    where = f"{data_side}px t{GOAL_THREADS}"
    rows = []
    for name in comparison_order(table):
        r = table["models"][name]
        row = {"model": name, "kind": model_kind(name, r), "format": r["format"] if r.get("kind") == "budget" else ", ".join(FORMATS),
               "target ms": f"{r['target_ms']:.3f}" if "target_ms" in r else ""}
        for fmt in FORMATS:
            entry = timed(table, name, fmt, data_side, GOAL_THREADS)
            row[f"{fmt} p50 ms {where}"] = f"{entry['p50_ms']:.3f}" if entry else ""
            row[f"{fmt} speed-up {where}"] = f"{entry['speedup_vs_dense_same_format_x']:.2f}x" if entry else ""
        rows.append({**row, "accuracy %": f"{r['test_accuracy_pct']:.1f}", "Δ pts": f"{r['accuracy_change_pts']:+.2f}",
                     "int8 accuracy %": f"{r['int8_test_accuracy_pct']:.1f}", "MACs reduction": f"{r['mac_reduction_x']:.2f}x"})
    for name, reason in unbuilt_budgets(table).items():  # listed, not built: the sentences say why
        rows.append({"model": name, "kind": f"budget, {unbuilt_status(reason)}"})
    return pd.DataFrame(rows).fillna("")


def prediction_rows(table: dict[str, Any]) -> pd.DataFrame:
    """The latency table's prediction against channel_bench's measured p50, per setting and model."""
    rows = [{"setting": setting, "model": name, "predicted ms": f"{check['predicted_ms']:.3f}",
             "measured ms": f"{check['measured_p50_ms']:.3f}", "error %": f"{check['error_pct']:+.1f}"}
            for setting, by_model in sorted(table.get("prediction", {}).get("table", {}).items())
            for name, check in by_model.items()]
    return pd.DataFrame(rows)
