"""The latency table's arithmetic and the budget search, on tables whose per-layer times the tests set
(no TensorFlow, no timing): interpolation, the whole-model prediction, greedy and uniform widths that
meet a budget, and the one-line refusals of budgets no width can meet."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.errors import PipelineError
from pruneflow.latency.budget import GroupLevels, check_reachable, greedy, importance_kept, uniform
from pruneflow.latency.table import CostedLayer, LatencyTable, Setting, group_rows, interpolate, levels_for, side_grid


def conv(name: str, ins, outs, ms_per_mac: float) -> tuple[CostedLayer, np.ndarray]:
    """A 1x1 conv whose time is exactly proportional to input x output channels (set by the test)."""
    layer = CostedLayer(name, "conv", (1, 1, 1, 1, "same", 1, 1, 8, 8, 1), ins, outs,
                        side_grid(ins, {k: 16 for k, _ in ins if k}, {k: s // 2 for k, s in ins if k}),
                        side_grid(outs, {k: 16 for k, _ in outs if k}, {k: s // 2 for k, s in outs if k}))
    ms = np.array([[ms_per_mac * ci * co for co in layer.grid_out] for ci in layer.grid_in])
    return layer, ms


def controlled_table() -> LatencyTable:
    """Input (3 channels, fixed) → a (64) → b (128) → output (10, fixed); `a` is cheap, `b` is costly:
    the b→out layer takes 10x as long per MAC as the others."""
    layers = [conv("stem", ((None, 3),), (("a", 64),), 1e-5), conv("mid", (("a", 64),), (("b", 128),), 1e-5),
              conv("head", (("b", 128),), ((None, 10),), 1e-4)]
    times = {layer.name: ms for layer, ms in layers}
    dense = 1.0 + sum(float(ms[-1, -1]) for ms in times.values())  # 1 ms of uncosted work
    return LatencyTable(Setting("float", 1, 8), tuple(layer for layer, _ in layers), dense, times)


def groups() -> list[GroupLevels]:
    rng = np.random.default_rng(0)
    return [GroupLevels("a", levels_for(64, 16), rng.uniform(0.5, 1.5, 64)),
            GroupLevels("b", levels_for(128, 16), rng.uniform(0.5, 1.5, 128))]


def test_interpolation_is_exact_on_the_grid_and_bilinear_between() -> None:
    ms = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert interpolate((16, 32), (8, 24), ms, 16, 24) == 2.0
    assert interpolate((16, 32), (8, 24), ms, 24, 16) == pytest.approx((1.0 + 2.0 + 3.0 + 5.0) / 4)  # the centre


def test_the_prediction_is_the_measured_dense_time_at_dense_widths_and_falls_with_the_table() -> None:
    table = controlled_table()
    assert table.predict({}) == pytest.approx(table.dense_ms)
    # halving b removes half of mid's and head's time (both proportional to b's width here)
    saved = 0.5 * (table.times["mid"][-1, -1] + table.times["head"][-1, -1])
    assert table.predict({"b": 64}) == pytest.approx(table.dense_ms - saved)


def test_greedy_widths_meet_the_budget_and_narrow_the_costly_group_first() -> None:
    table, found = controlled_table(), groups()
    target = table.dense_ms - 0.6 * (table.dense_ms - 1.0)  # 60 % of the costed time saved
    counts = greedy(found, table.predict, target)
    assert table.predict(counts) <= target
    assert counts["b"] / 128 < counts["a"] / 64  # b saves 10x more per channel: it is cut further
    # one step less pruning would miss the budget (greedy stops at the first allocation that meets it)
    assert any(table.predict({**counts, key: found[i].levels[found[i].levels.index(counts[key]) + 1]}) > target
               for i, key in enumerate(("a", "b")) if counts[key] < found[i].levels[-1])


def test_greedy_keeps_more_importance_than_uniform_widths_at_the_same_budget() -> None:
    table, found = controlled_table(), groups()
    target = table.dense_ms - 0.5 * (table.dense_ms - 1.0)
    counter = lambda keep: {"a": max(16, int(round(64 * keep / 16)) * 16), "b": max(16, int(round(128 * keep / 16)) * 16)}
    keep, flat = uniform(counter, table.predict, target)
    chosen = greedy(found, table.predict, target)
    assert table.predict(flat) <= target and 0 < keep < 1
    assert importance_kept(found, chosen) >= importance_kept(found, flat)


def test_an_unreachable_budget_names_the_reachable_range_in_one_line() -> None:
    table, found = controlled_table(), groups()
    with pytest.raises(PipelineError) as caught:
        check_reachable(table.predict, found, 0.5, table.dense_ms, "channels.budget float-9.0x-greedy (float)")
    message = str(caught.value)
    assert "\n" not in message and "unreachable" in message and "allowed: latency_ms >=" in message
    floor = table.predict({"a": 16, "b": 16})
    assert f"{floor:.4f}" in message and f"speedup_x <= {table.dense_ms / floor:.2f}" in message
    with pytest.raises(PipelineError, match=r"asks for nothing.*allowed: latency_ms <"):
        check_reachable(table.predict, found, table.dense_ms * 1.1, table.dense_ms, "channels.budget")


def test_the_group_view_lists_every_width_of_a_group_with_the_time_it_sets() -> None:
    table = controlled_table()
    rows = group_rows(table, {"b": levels_for(128, 16)})
    assert [row["width"] for row in rows] == list(range(16, 129, 16))
    full = rows[-1]
    assert full["saved_ms"] == 0 and full["layers"] == 2
    assert rows[3]["source"] == "measured" and rows[0]["source"] == "measured" and rows[1]["source"] == "interpolated"
    assert all(a["ms"] < b["ms"] for a, b in zip(rows, rows[1:]))


def test_a_table_survives_its_json_round_trip() -> None:
    table = controlled_table()
    again = LatencyTable.from_json(table.to_json())
    assert again.predict({"a": 32, "b": 48}) == pytest.approx(table.predict({"a": 32, "b": 48}), rel=1e-6)
    assert again.setting.key == "float-t1-8px"
