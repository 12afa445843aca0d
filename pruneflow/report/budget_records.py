"""The latency-budget section's inputs: the budgeted models and the budgets not built, read from the
channel_bench table (reports/channels.json: `models`, `not_applicable`, `latency`, `prediction`), and
the two wordings every budget sentence shares — a measured figure against the target printed beside
it, an accuracy change as gained or lost. `pruneflow.report.budget` builds the sentences from these."""

from __future__ import annotations

from typing import Any

from pruneflow.config.params import Config
from pruneflow.evaluation.metrics import speedup_spread
from pruneflow.report.channels import _key

# Two budgets that agree on these fields ask for the same latency: their models differ only in allocation.
SAME_BUDGET = ("latency_ms", "speedup_x", "format", "threads", "resolution")
# The figure's and the table's series, in reading order: dense, then the budgets searched greedily, then
# every model with one kept fraction in all groups (uniform budgets and the keep points), then the
# narrower width multiplier trained from scratch.
SERIES = ("dense", "greedy budget", "uniform keep", "uniform width")


def budgets_measured(cfg: Config, table: dict[str, Any]) -> bool:
    """Whether the section belongs in the report: budgets are configured and channel_bench measured every
    budgeted model or recorded why it was not built (False for old runs, budgets off, or a table built
    before channel_budget)."""
    names = [f"budget-{budget.name}" for budget in cfg.channels.budgets()]
    seen = {**table.get("models", {}), **(table.get("not_applicable") or {})}
    return bool(names) and all(name in seen for name in names)


def budget_records(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The table's budgeted models (kind `budget`), in the table's order."""
    return {name: r for name, r in table.get("models", {}).items() if r.get("kind") == "budget"}


def unbuilt_budgets(table: dict[str, Any]) -> dict[str, str]:
    """The budgets channel_budget did not build (unreachable on this model, or met by dense), with why."""
    return {name: reason for name, reason in (table.get("not_applicable") or {}).items() if name.startswith("budget-")}


def series_of(name: str, record: dict[str, Any]) -> str | None:
    """The model's series in `SERIES` (None: not part of the budget comparison)."""
    if name == "dense":
        return "dense"
    if record.get("kind") == "budget":
        return "greedy budget" if record["budget"]["allocation"] == "greedy" else "uniform keep"
    if name == "channel" or name.startswith("channel-"):
        return "uniform keep"
    return "uniform width" if name == "uniform_width" else None


def budget_side(record: dict[str, Any], data_side: int, setup: dict[str, Any] | None = None) -> int:
    """The input side a budget was timed at: its own resolution, else the data's side; where channel_bench
    could not time that side (a fixed-size head), the side it used instead (`setup`: channel_bench's)."""
    side = record["budget"].get("resolution") or data_side
    return timed_resolution({"setup": setup or {}}, side)


def timed_resolution(table: dict[str, Any], asked: int) -> int:
    """The side channel_bench timed for `channels.resolution` `asked`: the model's own side when a fixed-size
    head (Flatten → Dense) cannot run at `asked` (`setup.resolution_note`), else `asked`."""
    setup = table.get("setup", {})
    return setup.get("resolution_px") or asked if setup.get("resolution_asked_px") == asked else asked


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


def spread(entry: dict[str, float]) -> str:
    """The paired rounds' quartiles of a speed-up, when the table has them (`metrics.speedup_spread`)."""
    return speedup_spread(entry["speedup_vs_dense_same_format_x"], entry.get("speedup_paired_q25_x"),
                          entry.get("speedup_paired_q75_x"))


def off_target_pct(measured_ms: float, target_ms: float) -> float:
    """How far a measured p50 is from a target, % of the target (positive: slower than it)."""
    return 100 * (measured_ms - target_ms) / target_ms


def against(measured_ms: float, target_ms: float, label: str) -> str:
    """A measured p50 against one target, the % computed against the figure printed with it:
    `22.5 % slower than the table's target 0.1200 ms`."""
    pct = off_target_pct(measured_ms, target_ms)
    if round(pct, 1) == 0:
        return f"on {label} {target_ms:.4f} ms"
    return f"{abs(pct):.1f} % {'slower' if pct > 0 else 'faster'} than {label} {target_ms:.4f} ms"


def allocation_pairs(table: dict[str, Any]) -> list[tuple[str, str]]:
    """(greedy, uniform) budgeted models whose budgets differ only in allocation."""
    records = budget_records(table)

    def same(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record["budget"].get(field) for field in SAME_BUDGET)

    greedy = {same(r): name for name, r in records.items() if r["budget"]["allocation"] == "greedy"}
    return [(greedy[same(r)], name) for name, r in records.items()
            if r["budget"]["allocation"] == "uniform" and same(r) in greedy]


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
