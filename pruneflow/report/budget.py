"""The latency-budget section: models pruned to a batch-1 latency measured on this machine (stage
channel_budget), what each one hit, the issue's goals, greedy against uniform widths at equal latency
(with the accuracy difference's paired confidence interval) and the latency table's prediction check.

Every number comes from the channel_bench table (reports/channels.json with its timing half: `models`,
`latency`, `prediction`); every verdict from a measured figure against a named threshold. The figure
of the same models is `pruneflow.report.front`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pruneflow.config import Config
from pruneflow.report.channels import FORMATS, SAME_ACCURACY_PTS, _key, _verdict, _where
from pruneflow.report.sentences import LATENCY_NOISE, _share
from pruneflow.report.significance import difference, no_pair

# The goals for the budgeted models: batch-1 speed-up over dense in the same format at the
# data's side and GOAL_THREADS, at most GOAL_LOSS_PTS lost; the measured p50 near the budget; the
# table's prediction near the measured p50 of every model channel_bench timed.
GOAL_INT8_SPEEDUP_X, GOAL_FLOAT_SPEEDUP_X, GOAL_LOSS_PTS, GOAL_THREADS = 2.0, 5.0, 0.5, 1
GOAL_OFF_BUDGET_PCT, GOAL_PREDICTION_PCT = 10.0, 10.0
# Two budgets that agree on these fields ask for the same latency: their models differ only in allocation.
SAME_BUDGET = ("latency_ms", "speedup_x", "format", "threads", "resolution")
# The figure's and the table's series, in reading order: dense, then the budgets searched greedily, then
# every model with one kept fraction in all groups (uniform budgets and the keep points), then the
# narrower width multiplier trained from scratch.
SERIES = ("dense", "greedy budget", "uniform keep", "uniform width")


def budgets_measured(cfg: Config, table: dict[str, Any]) -> bool:
    """Whether the section belongs in the report: budgets are configured and channel_bench measured
    every budgeted model (False for old runs, budgets off, or a table built before channel_budget)."""
    names = [f"budget-{budget.name}" for budget in cfg.channels.budgets()]
    return bool(names) and all(name in table.get("models", {}) for name in names)


def budget_records(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The table's budgeted models (kind `budget`), in the table's order."""
    return {name: r for name, r in table.get("models", {}).items() if r.get("kind") == "budget"}


def series_of(name: str, record: dict[str, Any]) -> str | None:
    """The model's series in `SERIES` (None: not part of the budget comparison)."""
    if name == "dense":
        return "dense"
    if record.get("kind") == "budget":
        return "greedy budget" if record["budget"]["allocation"] == "greedy" else "uniform keep"
    if name == "channel" or name.startswith("channel-"):
        return "uniform keep"
    return "uniform width" if name == "uniform_width" else None


def budget_side(record: dict[str, Any], data_side: int) -> int:
    """The input side a budget was set at: its own resolution, else the data's side."""
    return record["budget"].get("resolution") or data_side


def accuracy(record: dict[str, Any], fmt: str) -> float:
    """The test accuracy of the model's file in `fmt` (int8: the quantized file's own)."""
    return record["int8_test_accuracy_pct" if fmt == "int8" else "test_accuracy_pct"]


def timed(table: dict[str, Any], name: str, fmt: str, side: int, threads: int) -> dict[str, float] | None:
    """The model's batch-1 timing in `fmt` at `side` and `threads` (None where channel_bench did not time it)."""
    return table.get("latency", {}).get(_key(side, threads), {}).get(f"{name}.{fmt}")


def budget_wording(budget: dict[str, Any]) -> str:
    """The budget as configured: `2.2x over dense int8`, `0.3 ms in int8`, `0.3 ms in the faster format`."""
    best = budget["format"] == "best"
    if budget.get("speedup_x") is not None:
        return f"{budget['speedup_x']:g}x over {'the faster dense format' if best else 'dense ' + budget['format']}"
    return f"{budget['latency_ms']:g} ms in {'the faster format' if best else budget['format']}"


def _spread(entry: dict[str, float]) -> str:
    """The paired rounds' quartiles of a speed-up, when the table has them."""
    if "speedup_paired_q25_x" not in entry:
        return ""
    return f" (paired rounds' quartiles {entry['speedup_paired_q25_x']:.2f}–{entry['speedup_paired_q75_x']:.2f}x)"


def _hit(table: dict[str, Any], name: str, side: int, threads: int) -> str:
    """The measured p50 against the target (channel_bench's `prediction.budgets` check)."""
    check = table.get("prediction", {}).get("budgets", {}).get(name)
    if check is None:
        return f"no measured p50 against the target at {_where(side, threads)}"
    return (f"measured p50 {check['measured_p50_ms']:.3f} ms at {_where(side, threads)} "
            f"({check['off_budget_pct']:+.1f} % off the target)")


def budget_sentence(name: str, table: dict[str, Any], data_side: int) -> str:
    """One budgeted model: budget, allocation, chosen format, target, measured p50 and how far off the
    target, the table's prediction, the speed-up over dense in that format, MACs and accuracy."""
    r, dense = table["models"][name], table["models"]["dense"]
    b, fmt = r["budget"], r["format"]
    side = budget_side(r, data_side)
    keep = r.get("uniform_keep")
    how = f"{b['allocation']} allocation" + (f" (keeps {_share(keep)} of every group)" if keep is not None else "")
    entry = timed(table, name, fmt, side, b["threads"])
    speed = (f"{entry['speedup_vs_dense_same_format_x']:.2f}x faster than dense {fmt}{_spread(entry)}" if entry
             else f"not timed in {fmt}")
    int8 = (f"; int8 file {r['int8_test_accuracy_pct']:.1f} % "
            f"({r['int8_test_accuracy_pct'] - dense['int8_test_accuracy_pct']:+.2f} pts vs dense int8)" if fmt == "int8" else "")
    return (f"{name}: budget {budget_wording(b)}, {how}, format {r['format_choice']}; target {r['target_ms']:.3f} ms, "
            f"{_hit(table, name, side, b['threads'])}; the table predicted {r['predicted_ms'][fmt]:.3f} ms; {speed}; "
            f"{r['mac_reduction_x']:.2f}x fewer MACs; test accuracy {r['test_accuracy_pct']:.1f} % "
            f"({r['accuracy_change_pts']:+.2f} pts vs dense){int8}.")


def budget_sentences(table: dict[str, Any], data_side: int) -> list[str]:
    """One sentence per budgeted model, in the table's order."""
    return [budget_sentence(name, table, data_side) for name in budget_records(table)]


def speed_goal(table: dict[str, Any], data_side: int, fmt: str, goal_x: float) -> str:
    """Goal: some budgeted model ≥ `goal_x` faster than dense in `fmt` at the data's side and
    GOAL_THREADS, losing ≤ GOAL_LOSS_PTS of `fmt` accuracy against dense in `fmt`; names the best."""
    dense = table["models"]["dense"]
    runs = [(name, entry, accuracy(dense, fmt) - accuracy(r, fmt)) for name, r in budget_records(table).items()
            if (entry := timed(table, name, fmt, data_side, GOAL_THREADS)) is not None]
    within = [run for run in runs if run[2] <= GOAL_LOSS_PTS + SAME_ACCURACY_PTS]
    head = (f"Goal: a budgeted model ≥ {goal_x:g}x faster than dense {fmt} at {_where(data_side, GOAL_THREADS)}, "
            f"losing ≤ {GOAL_LOSS_PTS:g} pt ({fmt} test accuracy against dense {fmt})")
    if not within:
        others = "; ".join(f"{name} {entry['speedup_vs_dense_same_format_x']:.2f}x at {loss:.2f} pts lost"
                           for name, entry, loss in runs)
        return f"{head}: no budgeted model within the loss ({others or 'none timed there'}) — missed."
    name, entry, loss = max(within, key=lambda run: run[1]["speedup_vs_dense_same_format_x"])
    x = entry["speedup_vs_dense_same_format_x"]
    return (f"{head}: best within the loss {name}, {x:.2f}x{_spread(entry)} at {loss:.2f} pts lost "
            f"(of {len(within)} within it) — {_verdict(x >= goal_x)}.")


def off_budget_goal(table: dict[str, Any]) -> str:
    """Goal: every budgeted model's measured p50 within GOAL_OFF_BUDGET_PCT of its target."""
    checks = table.get("prediction", {}).get("budgets", {})
    names = list(budget_records(table))
    parts = [f"{name} {checks[name]['off_budget_pct']:+.1f} %" if name in checks else f"{name} not measured"
             for name in names]
    met = all(name in checks and abs(checks[name]["off_budget_pct"]) <= GOAL_OFF_BUDGET_PCT for name in names)
    return (f"Goal: every budgeted model's measured p50 within {GOAL_OFF_BUDGET_PCT:g} % of its target: "
            f"{'; '.join(parts)} — {_verdict(met)}.")


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
    """The issue's four goals for latency budgets, each worded met or missed with the measured figure."""
    return [speed_goal(table, data_side, "int8", GOAL_INT8_SPEEDUP_X),
            speed_goal(table, data_side, "float", GOAL_FLOAT_SPEEDUP_X),
            off_budget_goal(table), prediction_goal(table)]


def allocation_pairs(table: dict[str, Any]) -> list[tuple[str, str]]:
    """(greedy, uniform) budgeted models whose budgets differ only in allocation."""
    records = budget_records(table)

    def same(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record["budget"].get(field) for field in SAME_BUDGET)

    greedy = {same(r): name for name, r in records.items() if r["budget"]["allocation"] == "greedy"}
    return [(greedy[same(r)], name) for name, r in records.items()
            if r["budget"]["allocation"] == "uniform" and same(r) in greedy]


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
    side, threads = budget_side(g, data_side), g["budget"]["threads"]
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


def model_kind(name: str, record: dict[str, Any]) -> str:
    """A model's kind in the table: `budget, greedy`, `uniform keep 0.5`, `uniform width (alpha 0.35)`."""
    series = series_of(name, record)
    if record.get("kind") == "budget":
        return f"budget, {record['budget']['allocation']}"
    if series == "uniform keep":
        return f"uniform keep {record['keep']:g}" if "keep" in record else "uniform keep"
    if series == "uniform width":
        return f"uniform width (alpha {record['alpha']:g})" if "alpha" in record else "uniform width"
    return str(series)


def comparison_order(table: dict[str, Any]) -> list[str]:
    """The compared models: dense, greedy budgets, uniform keep (budgets, then keep points), uniform width."""
    models = table.get("models", {})
    return sorted((name for name, r in models.items() if series_of(name, r)),
                  key=lambda name: SERIES.index(str(series_of(name, models[name]))))


def budget_rows(table: dict[str, Any], data_side: int) -> pd.DataFrame:
    """The budgeted models beside dense and the uniform-keep/uniform-width models: format, target,
    batch-1 p50 and speed-up per format at the data's side and GOAL_THREADS, accuracy, MAC reduction."""
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
    return pd.DataFrame(rows)


def prediction_rows(table: dict[str, Any]) -> pd.DataFrame:
    """The latency table's prediction against channel_bench's measured p50, per setting and model."""
    rows = [{"setting": setting, "model": name, "predicted ms": f"{check['predicted_ms']:.3f}",
             "measured ms": f"{check['measured_p50_ms']:.3f}", "error %": f"{check['error_pct']:+.1f}"}
            for setting, by_model in sorted(table.get("prediction", {}).get("table", {}).items())
            for name, check in by_model.items()]
    return pd.DataFrame(rows)
