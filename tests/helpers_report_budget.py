"""A small channel_bench table for the latency-budget section's tests: three budgets, the uniform-keep
and uniform-width models, with their accuracies, speed-ups and prediction errors."""

from __future__ import annotations

SIDE, BIG, TEST_IMAGES = 48, 224, 500
GREEDY, UNIFORM, FLOAT = "budget-int8-2.2x-greedy", "budget-int8-2.2x-uniform", "budget-float-5.5x-greedy"
DENSE_MS = {"float": 2.0, "int8": 1.0}  # this benchmark's, at 48 px, 1 thread; at 224 px (224/48)^2 times that
# the latency table's dense medians when channel_budget chose the widths (another run: they differ from
# the benchmark's), so a speed-up budget has two targets: table 0.9 / 2.2 = 0.4091 ms, benchmark 0.4545 ms
TABLE_DENSE_MS = {"float": 1.9, "int8": 0.9}
# name → (test accuracy %, int8 test accuracy %), (float speed-up, int8 speed-up) over dense at every side
ACCURACY = {"dense": (90.0, 89.8), GREEDY: (89.8, 89.6), UNIFORM: (89.4, 89.0), FLOAT: (89.6, 88.8),
            "channel": (89.9, 89.7), "channel-0.35": (89.0, 88.9), "uniform_width": (88.5, 88.3),
            "unstructured": (89.9, 89.7)}
SPEEDUP = {"dense": (1.0, 1.0), GREEDY: (1.8, 2.3), UNIFORM: (1.7, 2.25), FLOAT: (5.3, 3.0), "channel": (2.0, 1.6),
           "channel-0.35": (3.1, 2.2), "uniform_width": (2.1, 1.7), "unstructured": (1.0, 1.05)}
BUDGETS = {GREEDY: (2.2, "int8", "greedy"), UNIFORM: (2.2, "int8", "uniform"), FLOAT: (5.5, "float", "greedy")}


def _record(name: str, accuracy: dict) -> dict:
    acc, int8_acc = accuracy[name]
    macs = 300e6 / {"dense": 1.0, "unstructured": 1.0}.get(name, 3.0)
    record = {"test_accuracy_pct": acc, "int8_test_accuracy_pct": int8_acc, "macs": macs, "params": 1_000_000,
              "tflite_bytes": 4_000_000, "int8_tflite_bytes": 1_000_000, "accuracy_change_pts": acc - accuracy["dense"][0],
              "mac_reduction_x": 300e6 / macs}
    if name in BUDGETS:
        x, fmt, allocation = BUDGETS[name]
        target = TABLE_DENSE_MS[fmt] / x
        record |= {"kind": "budget", "format": fmt, "format_choice": fmt, "target_ms": target,
                   "dense_ms": TABLE_DENSE_MS[fmt], "predicted_ms": {fmt: 0.98 * target}, "importance_kept": 0.7,
                   "uniform_keep": 0.45 if allocation == "uniform" else None, "mac_ratio_x": 3.0,
                   "budget": {"latency_ms": None, "speedup_x": x, "format": fmt, "threads": 1, "resolution": None,
                              "allocation": allocation}}
    if name.startswith("channel"):
        record |= {"kind": "channel", "keep": 0.5 if name == "channel" else 0.35}
    if name == "uniform_width":
        record |= {"kind": "uniform_width", "alpha": 0.35}
    return record


def _timing(ms: float, x: float) -> dict:
    return {"p50_ms": ms, "iqr_ms": 0.1 * ms, "speedup_vs_dense_same_format_x": x,
            "speedup_paired_q25_x": 0.95 * x, "speedup_paired_q75_x": 1.05 * x}


def _table(accuracy: dict | None = None, speedup: dict | None = None, errors: dict | None = None,
           prediction: bool = True) -> dict:
    """A channel_bench table of `ACCURACY`'s models timed at 48 and 224 px, 1 thread, with channel_bench's
    prediction check (each budget's target this benchmark's dense p50 ÷ x, its off_budget_pct computed
    from that target and the measured p50, as channel_bench does). By default the 2.2x int8 budget's goal
    is met by its greedy model (2.3x at 0.2 pts lost; its uniform twin loses 0.8 pt), the 5.5x float
    budget's goal is missed (5.3x), every model is within 10 % of its benchmark target (greedy -4.3 %,
    uniform -2.2 %, float +3.8 %) and every prediction within 10 % of its p50."""
    accuracy, speedup = {**ACCURACY, **(accuracy or {})}, {**SPEEDUP, **(speedup or {})}
    latency = {}
    for side in (SIDE, BIG):
        scale = (side / SIDE) ** 2
        latency[f"{side}px_threads_1"] = {f"{name}.{fmt}": _timing(scale * DENSE_MS[fmt] / x, x)
                                          for name, xs in speedup.items() for fmt, x in zip(("float", "int8"), xs)}
    table = {"models": {name: _record(name, accuracy) for name in accuracy}, "latency": latency}
    if prediction:
        checks = {}
        for name, (x, fmt, _) in BUDGETS.items():
            run = latency["48px_threads_1"]
            target, measured = run[f"dense.{fmt}"]["p50_ms"] / x, run[f"{name}.{fmt}"]["p50_ms"]
            checks[name] = {"format": fmt, "target_ms": target, "target_when_chosen_ms": table["models"][name]["target_ms"],
                            "measured_p50_ms": measured, "predicted_ms": table["models"][name]["predicted_ms"][fmt],
                            "off_budget_pct": 100 * (measured - target) / target}
        errors = {("float-t1-48px", "dense"): 0.0, ("float-t1-48px", GREEDY): 6.0, ("int8-t1-48px", "channel"): -7.5,
                  ("int8-t1-48px", UNIFORM): 2.0, **(errors or {})}
        by_setting: dict[str, dict] = {}
        for (setting, name), error in errors.items():
            by_setting.setdefault(setting, {})[name] = {"predicted_ms": 1.0 + error / 100, "measured_p50_ms": 1.0,
                                                        "error_pct": error}
        table["prediction"] = {"table": by_setting, "budgets": checks}
    return table
