"""Stage channel_budget: for `channels.budget` and each of `channels.budget_series`, the per-group
widths that meet the latency budget on this machine's table, the dense model narrowed to them and
fine-tuned → `paths.channel_budget/<budget>/` (model, float and int8 TFLite, point.json with the
chosen format and predicted time); a budget no allocation can reach: only its point.json, saying why
and what is reachable, and the other budgets go on. `budgets.json` lists every budget with its status;
none configured: empty (`pruneflow.latency`)."""

from __future__ import annotations

import json
from typing import Any

from pruneflow.artifacts.files import atomic_dir
from pruneflow.artifacts.points import BUDGETS_FILE
from pruneflow.config.params import Config
from pruneflow.latency.point import budget_point


def summary_entry(name: str, point: dict[str, Any]) -> dict[str, Any]:
    """A budget's line in budgets.json: built (format, target, predicted ms, accuracy) or not (status,
    reason, the reachable bound per format)."""
    if not point.get("applicable", True):
        return {"name": name, "status": point["status"], "format": point["format"], "target_ms": point["target_ms"],
                "reason": point["reason"], "reachable": point["reachable"]}
    return {"name": name, "status": "built", "format": point["format"], "target_ms": point["target_ms"],
            "predicted_ms": point["predicted_ms"][point["format"]], "test_accuracy_pct": point["test_accuracy_pct"]}


def run(cfg: Config) -> None:
    """Edge: one budgeted model per reachable budget, every budget's status, all published together."""
    summary = []
    with atomic_dir(cfg.paths.channel_budget) as tmp:
        for budget in cfg.channels.budgets():
            point = budget_point(cfg, budget, tmp / budget.name)
            summary.append(summary_entry(budget.name, point))
            if not point.get("applicable", True):
                print(f"channel_budget {budget.name}: {point['status']}, not built: {point['reason']}")
                continue
            print(f"channel_budget {budget.name}: {point['format']} target {point['target_ms']:.4f} ms, predicted "
                  f"{point['predicted_ms'][point['format']]:.4f} ms, accuracy {point['test_accuracy_pct']:.2f} %, "
                  f"{point['mac_ratio_x']:.2f}x fewer MACs")
        (tmp / BUDGETS_FILE).write_text(json.dumps({"budgets": summary}, indent=2, sort_keys=True) + "\n")
