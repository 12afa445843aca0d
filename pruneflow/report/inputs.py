"""The report's inputs: one run's metrics.json and the tables its stages wrote, read once, each with its
timing file (timings.json, the latency samples, the sweep's and channel_bench's latencies) merged in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.artifacts.results import read_run_metrics, read_table_with_timings, read_with_timings
from pruneflow.config.params import Config
from pruneflow.errors import require
from pruneflow.models.data import SPLITS, load_classes, load_split


@dataclass(frozen=True)
class RunArtifacts:
    """Everything the report is made of, as read from one run's outputs."""

    metrics: dict[str, Any]
    train_log: pd.DataFrame
    prune_log: pd.DataFrame
    prune_steps: pd.DataFrame
    layers: pd.DataFrame
    per_class: pd.DataFrame
    predictions: pd.DataFrame
    histogram: pd.DataFrame
    latency: pd.DataFrame
    classes: tuple[str, ...]
    split_sizes: dict[str, int] = field(default_factory=dict)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the channel_bench table (reports/channels.json): `models`, `latency` per side and threads, `setup`
    channels: dict[str, Any] = field(default_factory=dict)
    # the machine the latencies were measured on (reports/machine.json): CPU, cores, ISA, versions
    machine: dict[str, Any] = field(default_factory=dict)


def load_artifacts(cfg: Config) -> RunArtifacts:
    """Read the run's outputs (edge).

    Args:
        cfg: the run's config; only its paths are read.

    Returns:
        The metrics, every table, the class names and split sizes of the prepared data, and the machine
        the latencies were measured on (empty when machine.json is absent).

    Raises:
        PipelineError: an output is missing; names the stage that writes it.
    """
    p = cfg.paths

    def csv(path: Path, stage: str, labels: tuple[str, ...] = ()) -> pd.DataFrame:
        # Class names stay text ("0".."9" would otherwise be read as numbers and miss the class list).
        return pd.read_csv(require(path, stage), dtype=dict.fromkeys(labels, str) or None)

    return RunArtifacts(
        metrics=read_run_metrics(require(p.metrics, "evaluate"), require(p.timings, "evaluate")),
        train_log=csv(p.train_log, "train_dense"),
        prune_log=csv(p.prune_log, "prune"),
        prune_steps=csv(p.prune_steps, "prune"),
        layers=csv(p.sparsity_table, "evaluate"),
        per_class=csv(p.per_class_table, "evaluate", ("class",)),
        predictions=csv(p.predictions, "evaluate", ("actual", "dense", "pruned")),
        histogram=csv(p.weight_histogram, "evaluate"),
        latency=csv(p.latency_samples, "bench"),  # a timing file
        classes=load_classes(p.prepared),
        split_sizes={split: len(load_split(p.prepared, split)[1]) for split in SPLITS},
        sweep=read_table_with_timings(require(p.sweep_table, "sweep"), require(p.sweep_latency, "sweep")),
        sensitivity=csv(p.sensitivity, "sensitivity"),
        channels=read_with_timings(require(p.channel_bench, "channel_bench"), require(p.channel_latency, "channel_bench")),
        # optional: runs from before the machine stage have none, and the report then says so
        machine=json.loads(p.machine.read_text()) if p.machine.exists() else {},
    )