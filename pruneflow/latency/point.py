"""A model pruned to a latency budget (stage channel_budget): widths searched on this machine's table
(`pruneflow.latency.budget`), the dense model narrowed to them (the highest-ranked channels of each
group kept, `channels.criterion`), fine-tuned like the channel-pruned model and written like a channel
point, with the budget, the chosen format and the predicted time in its `point.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.channel_training import fine_tune, fine_tune_epochs, widths_table, write_model
from pruneflow.channels import ChannelGraph, apply_plan, channel_scores, group_count, plan_channels
from pruneflow.config import BudgetConfig, Config
from pruneflow.data import load_split
from pruneflow.errors import PipelineError, require
from pruneflow.latency.budget import GroupLevels, check_reachable, greedy, importance_kept, uniform
from pruneflow.latency.importance import taylor_importance
from pruneflow.latency.table import FORMATS, LatencyTable, Setting, levels_for, read_tables
from pruneflow.macs import count_macs
from pruneflow.model import EpochLog, load_model, seed_everything
from pruneflow.tf_env import keras


def search_groups(cfg: Config, model: keras.Model, train: tuple[np.ndarray, np.ndarray]) -> list[GroupLevels]:
    """The groups the budget search may narrow: their levels, their channels' Taylor importance as a
    share of the whole model's (comparable across groups) and the order the plan keeps them in
    (`channels.criterion`, as every channel-pruned model here)."""
    c = cfg.channels
    graph = ChannelGraph(model)
    groups = graph.prunable(c.scope)
    taylor = taylor_importance(graph.model, groups, *train, cfg.train.batch_size, cfg.seed)
    total = float(sum(scores.sum() for scores in taylor.values()))
    return [GroupLevels(g.key, levels_for(g.size, c.multiple, g.blocks), taylor[g.key],
                        np.argsort(-channel_scores(graph.model, g, c.criterion), kind="stable"), total) for g in groups]


def uniform_counter(model: keras.Model, scope: str, multiple: int):
    """keep → counts: `channels.keep`'s rule (the same fraction in every group of the scope)."""
    groups = ChannelGraph(model).prunable(scope)
    return lambda keep: {g.key: group_count(g, keep, multiple) for g in groups}


def budget_tables(cfg: Config, budget: BudgetConfig, tables: dict[str, LatencyTable]) -> dict[str, LatencyTable]:
    """The table of each format the budget may use, at its threads and side."""
    side = budget.resolution or cfg.data.image_size
    formats = FORMATS if budget.format == "best" else (budget.format,)
    keys = {fmt: Setting(fmt, budget.threads, side).key for fmt in formats}
    missing = [key for key in keys.values() if key not in tables]
    if missing:
        raise PipelineError(f"{cfg.paths.latency_table}: no table for {missing}; run `dvc repro latency_table`")
    return {fmt: tables[key] for fmt, key in keys.items()}


def target_ms(budget: BudgetConfig, tables: dict[str, LatencyTable]) -> float:
    """The budget in ms: `latency_ms`, or the fastest dense format's measured p50 over `speedup_x`."""
    if budget.latency_ms is not None:
        return budget.latency_ms
    return min(table.dense_ms for table in tables.values()) / budget.speedup_x


def choose_widths(cfg: Config, budget: BudgetConfig, dense: keras.Model, tables: dict[str, LatencyTable],
                  train: tuple[np.ndarray, np.ndarray]) -> tuple[dict[str, int], dict[str, Any]]:
    """Per-group widths meeting the budget, and how they were chosen (format, target, predictions)."""
    c = cfg.channels
    groups = search_groups(cfg, dense, train)
    target = target_ms(budget, tables)
    found, errors = {}, []
    for fmt, table in tables.items():
        try:
            check_reachable(table.predict, groups, target, table.dense_ms, f"channels.budget {budget.name} ({fmt})")
        except PipelineError as exc:
            errors.append(exc)
            continue
        if budget.allocation == "greedy":
            found[fmt] = (None, greedy(groups, table.predict, target))
        else:
            found[fmt] = uniform(uniform_counter(dense, c.scope, c.multiple), table.predict, target)
    if not found:
        raise errors[0]
    # best: the format whose widths keep the most importance (then the faster prediction)
    fmt = max(found, key=lambda f: (importance_kept(groups, found[f][1]), -tables[f].predict(found[f][1])))
    keep, counts = found[fmt]
    info = {"format": fmt, "target_ms": target, "dense_ms": tables[fmt].dense_ms,
            "predicted_ms": {f: t.predict(counts) for f, t in tables.items()},
            "importance_kept": importance_kept(groups, counts), "uniform_keep": keep,
            "format_choice": (f"best: {fmt} keeps the most channel importance at {target:.4f} ms "
                              f"(of {', '.join(sorted(found))})" if budget.format == "best" else fmt)}
    return counts, info


def budget_point(cfg: Config, budget: BudgetConfig, out_dir: Path) -> dict[str, Any]:
    """Choose the widths, narrow the saved dense model, fine-tune it, write the point's folder."""
    c = cfg.channels
    train, val = (load_split(cfg.paths.prepared, split) for split in ("train", "val"))
    dense = load_model(require(cfg.paths.dense_model, "train_dense"))
    tables = budget_tables(cfg, budget, read_tables(require(cfg.paths.latency_table, "latency_table")))
    counts, info = choose_widths(cfg, budget, dense, tables, train)
    seed_everything(cfg.seed)
    graph = ChannelGraph(dense)
    model = apply_plan(graph.model, plan_channels(graph.model, counts, c.criterion, graph), graph)
    log = EpochLog(Path("epochs.csv"), extra=lambda m: {"params": m.count_params()})
    fine_tune(model, cfg, fine_tune_epochs(cfg, len(train[0])), train, val, log)
    dense_macs = count_macs(dense)
    identity = {"point": f"budget-{budget.name}", "kind": "budget", "budget": budget.model_dump(mode="json"),
                "scope": c.scope, "criterion": c.criterion, "multiple": c.multiple}
    return write_model(model, cfg, out_dir, identity,
                       {**info, "dense_macs": dense_macs, "mac_ratio_x": dense_macs / count_macs(model)},
                       log, widths_table(dense, model, c.scope))
