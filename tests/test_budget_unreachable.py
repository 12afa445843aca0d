"""A budget the model cannot reach is recorded, not raised: channel_budget's core (`search_widths`) on a
synthetic latency table returns an `unreachable` entry with the reachable bound, the stage goes on to
the next budget and lists every one in budgets.json, and the report lists it as unreachable with why.
No TensorFlow model, no training, no timing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pruneflow.artifacts.points import BUDGETS_FILE
from pruneflow.config.params import parse_config
from pruneflow.config.studies import BudgetConfig
from pruneflow.latency.budget import GroupLevels, search_widths
from pruneflow.latency.table import CostedLayer, LatencyTable, Setting, levels_for, side_grid
from pruneflow.report.budget import budget_goals, budget_rows, budget_sentences
from pruneflow.report.budget_records import budgets_measured


def small_table() -> LatencyTable:
    """A small model: input (3, fixed) → a (32) → output (10, fixed), 0.05 ms of uncosted work; the
    narrowest model (a at 16) saves little, so a 2.2x budget is out of reach."""
    layers = []
    for name, ins, outs in (("stem", ((None, 3),), (("a", 32),)), ("head", (("a", 32),), ((None, 10),))):
        layer = CostedLayer(name, "conv", (1, 1, 1, 1, "same", 1, 1, 8, 8, 1), ins, outs,
                            side_grid(ins, {"a": 16}, {"a": 16}), side_grid(outs, {"a": 16}, {"a": 16}))
        layers.append((layer, np.array([[1e-4 * ci * co for co in layer.grid_out] for ci in layer.grid_in])))
    dense = 0.05 + sum(float(ms[-1, -1]) for _, ms in layers)
    return LatencyTable(Setting("int8", 1, 8), tuple(layer for layer, _ in layers), dense, dict((l.name, ms) for l, ms in layers))


GROUPS = [GroupLevels("a", levels_for(32, 16), np.linspace(1.0, 2.0, 32))]
COUNTER = lambda keep: {"a": max(16, int(round(32 * keep / 16)) * 16)}  # noqa: E731


def test_an_unreachable_budget_yields_an_unreachable_entry_with_the_bound_instead_of_raising() -> None:
    table = small_table()
    counts, entry = search_widths(BudgetConfig(speedup_x=2.2, format="int8"), GROUPS, {"int8": table}, COUNTER)
    floor = table.predict({"a": 16})
    assert counts is None and table.dense_ms / floor < 2.2
    assert entry["status"] == "unreachable" and entry["applicable"] is False
    assert entry["point"] == "budget-int8-2.2x-greedy" and entry["format"] == "int8"
    assert entry["target_ms"] == pytest.approx(table.dense_ms / 2.2)
    bound = entry["reachable"]["int8"]
    assert bound["floor_ms"] == pytest.approx(floor) and bound["max_speedup_x"] == pytest.approx(table.dense_ms / floor)
    assert bound["spread"] is None and "no spread recorded" in entry["reason"]  # the table holds one median
    assert "\n" not in entry["reason"] and f"speedup_x <= {table.dense_ms / floor:.2f}" in entry["reason"]


def test_a_reachable_budget_beside_it_is_still_searched() -> None:
    table = small_table()
    reachable = BudgetConfig(speedup_x=1.05, format="int8", allocation="uniform")
    counts, info = search_widths(reachable, GROUPS, {"int8": table}, COUNTER)
    assert counts is not None and info["predicted_ms"]["int8"] <= info["target_ms"] < table.dense_ms


def test_the_stage_lists_every_budget_and_goes_on_past_an_unreachable_one(tmp_path, monkeypatch) -> None:
    import tasks.channel_budget as stage

    cfg = parse_config({"paths": {"channel_budget": str(tmp_path / "budgets")}})
    first, *rest = cfg.channels.budgets()
    table = small_table()

    def fake_point(cfg, budget, out_dir):  # the core on the synthetic table; a reachable budget "built"
        counts, info = search_widths(budget, GROUPS, {"int8": table, "float": table}, COUNTER)
        if counts is None:
            return info
        return {**info, "test_accuracy_pct": 90.0, "mac_ratio_x": 1.5}

    monkeypatch.setattr(stage, "budget_point", fake_point)
    stage.run(cfg.model_copy(update={"channels": cfg.channels.model_copy(
        update={"budget_series": (*cfg.channels.budget_series, BudgetConfig(speedup_x=1.05, format="int8"))})}))
    listed = json.loads((tmp_path / "budgets" / BUDGETS_FILE).read_text())["budgets"]
    assert [b["name"] for b in listed] == [first.name, *(b.name for b in rest), "int8-1.05x-greedy"]
    assert [b["status"] for b in listed] == ["unreachable"] * (1 + len(rest)) + ["built"]
    assert all("floor_ms" in b["reachable"]["int8"] for b in listed[:-1])


def test_the_report_lists_an_unreachable_budget_with_its_reason() -> None:
    cfg = parse_config({"channels": {"budget": {"speedup_x": 2.2, "format": "int8"}, "budget_series": []}})
    reason = "channels.budget int8-2.2x-greedy (int8): 0.0120 ms is unreachable here: … speedup_x <= 1.40"
    dense = {"test_accuracy_pct": 80.0, "int8_test_accuracy_pct": 79.0, "accuracy_change_pts": 0.0,
             "mac_reduction_x": 1.0}
    table = {"models": {"dense": dense}, "not_applicable": {"budget-int8-2.2x-greedy": reason}, "latency": {}}
    assert budgets_measured(cfg, table) and not budgets_measured(cfg, {**table, "not_applicable": {}})
    assert budget_sentences(table, 48) == [f"budget-int8-2.2x-greedy: unreachable on this model, not built — {reason}."]
    rows = budget_rows(table, 48)
    assert rows.set_index("model").loc["budget-int8-2.2x-greedy", "kind"] == "budget, unreachable on this model"
    assert any(g.startswith("Goal (budget-int8-2.2x-greedy): not built, unreachable") for g in budget_goals(table, 48))
