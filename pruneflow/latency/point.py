"""A model pruned to a latency budget (stage channel_budget): widths searched on this machine's table
(`pruneflow.latency.budget`), the dense model narrowed to them (the highest-ranked channels of each
group kept, `channels.criterion`), fine-tuned like the channel-pruned model and written like a channel
point, with the budget, the chosen format and the predicted time in its `point.json`. A budget the table
says no allocation can reach (or dense already meets) is not built: its folder holds only `point.json`
with `applicable` false, its status, the reachable bound and why, and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.artifacts.points import POINT_FILE
from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import channel_scores, group_count, plan_channels
from pruneflow.channels.rebuild import apply_plan
from pruneflow.channels.training import fine_tune, fine_tune_epochs, widths_table, write_model
from pruneflow.config.params import Config
from pruneflow.config.studies import BudgetConfig
from pruneflow.errors import PipelineError, require
from pruneflow.latency.budget import GroupLevels, search_widths
from pruneflow.latency.importance import taylor_importance
from pruneflow.latency.table import FORMATS, LatencyTable, Setting, levels_for, read_tables
from pruneflow.models.data import load_split
from pruneflow.models.fit import EpochLog, seed_everything
from pruneflow.models.macs import count_macs
from pruneflow.models.store import load_model
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


def choose_widths(cfg: Config, budget: BudgetConfig, dense: keras.Model, tables: dict[str, LatencyTable],
                  train: tuple[np.ndarray, np.ndarray]) -> tuple[dict[str, int] | None, dict[str, Any]]:
    """`search_widths` on the dense model's groups and Taylor importance (None: unreachable)."""
    c = cfg.channels
    return search_widths(budget, search_groups(cfg, dense, train), tables, uniform_counter(dense, c.scope, c.multiple))


def budget_point(cfg: Config, budget: BudgetConfig, out_dir: Path) -> dict[str, Any]:
    """Choose the widths, narrow the saved dense model, fine-tune it, write the point's folder (for an
    unreachable budget only its point.json, `applicable` false)."""
    c = cfg.channels
    train, val = (load_split(cfg.paths.prepared, split) for split in ("train", "val"))
    dense = load_model(require(cfg.paths.dense_model, "train_dense"))
    tables = budget_tables(cfg, budget, read_tables(require(cfg.paths.latency_table, "latency_table")))
    counts, info = choose_widths(cfg, budget, dense, tables, train)
    if counts is None:  # unreachable here: the folder holds only point.json, saying why; the run goes on
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / POINT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return info
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
