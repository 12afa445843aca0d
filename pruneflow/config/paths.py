"""Every file the pipeline reads or writes: the `paths` section of params.yaml (their one home;
dvc.yaml templates the same keys)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

# Folder outputs: each is replaced as a whole, so none may hold another output.
FOLDERS = ("prepared", "export", "pqat", "prune_summaries", "figures", "flow_stamps", "sweep", "derived",
           "channel", "channel_sweep", "stacked", "uniform_baseline", "latency_table", "channel_budget", "seeds")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class PathsConfig(_Section):
    """Every file the pipeline reads or writes; dvc.yaml templates the same keys (one home)."""

    prepared: Path = Path("data/prepared")
    dense_model: Path = Path("models/dense.keras")
    pruned_model: Path = Path("models/pruned_wrapped.keras")
    stripped_model: Path = Path("models/pruned_stripped.keras")
    own_models: Path = Path("models/own")               # where a model.file trained elsewhere lives (DVC dep)
    export: Path = Path("export")
    pqat: Path = Path("export_pqat")
    train_log: Path = Path("reports/train_dense.csv")
    prune_log: Path = Path("reports/prune_epochs.csv")
    prune_steps: Path = Path("reports/prune_steps.csv")
    prune_summaries: Path = Path("reports/prune_summaries")
    strip_check: Path = Path("reports/strip_check.json")
    sparsity_table: Path = Path("reports/sparsity_per_layer.csv")
    per_class_table: Path = Path("reports/per_class.csv")
    predictions: Path = Path("reports/predictions.csv")
    weight_histogram: Path = Path("reports/weight_histogram.csv")
    latency_samples: Path = Path("reports/latency_ms.csv")  # timing: every timed batch-1 float invoke
    bench: Path = Path("reports/bench.json")            # timing: the benchmark's latency and throughput
    bench_setup: Path = Path("reports/bench_setup.json")  # what bench timed: files, bytes, delegates, settings
    sweep: Path = Path("sweep")                          # one folder per sweep point (pruned, stripped, TFLite)
    sweep_table: Path = Path("reports/sweep.csv")        # the sweep: a row per point (accuracy, sizes, MACs)
    sweep_latency: Path = Path("reports/sweep_latency.csv")  # timing: each sweep point's p50s and latency front
    sensitivity: Path = Path("reports/sensitivity.csv")  # accuracy drop per unit pruned alone
    derived: Path = Path("sweep_derived")                # pruned with the sensitivity-derived per-layer targets
    channel: Path = Path("channel_pruned")              # the main channel-pruned model: Keras, TFLite, point.json
    channel_sweep: Path = Path("channel_sweep")         # one folder per other channel keep fraction
    stacked: Path = Path("stacked")                     # channel-pruned, then magnitude-pruned: Keras, TFLite, point.json
    uniform_baseline: Path = Path("uniform_baseline")   # the same MACs by a narrower width multiplier, trained from scratch
    seeds: Path = Path("seed_runs")                     # one folder per extra seed (`seeds` > 1): seed_run@<seed>
    machine: Path = Path("reports/machine.json")        # the CPU, ISA, versions: every latency stage's dependency
    latency_table: Path = Path("reports/latency_table")  # per-layer and per-group TFLite times measured here (in git)
    channel_budget: Path = Path("channel_budget")       # one folder per latency budget (channels.budget, budget_series)
    channel_bench: Path = Path("reports/channels.json") # dense/unstructured/channel/stacked/baseline side by side
    channel_latency: Path = Path("reports/channels_latency.json")  # timing: channel_bench's latencies, speed-ups
    report_md: Path = Path("reports/report.md")
    report_html: Path = Path("reports/report.html")
    figures: Path = Path("reports/figures")
    metrics: Path = Path("metrics.json")                # every field that repeats exactly (DVC metrics)
    timings: Path = Path("timings.json")                # timing: the same run's wall-clock fields (DVC metrics)
    stage_timings: Path = Path("reports/timings")       # timing: one <stage>.json per stage (seconds, epoch seconds)
    flow_stamps: Path = Path(".pruneflow")

    @model_validator(mode="after")
    def _folders_do_not_overlap(self) -> PathsConfig:
        for name in ("dense_model", "pruned_model", "stripped_model"):
            if getattr(self, name).suffix != ".keras":
                raise ValueError(f"{name}={getattr(self, name)}: allowed is a .keras file (the native format, loaded "
                                 "in safe mode; .h5 model files can run code on load)")
        # Folder outputs are replaced as a whole: one that held another output would delete it.
        others = {name: Path(value) for name, value in self}
        for folder in FOLDERS:
            mine = others[folder]
            for name, path in others.items():
                if name != folder and (path == mine or mine in path.parents or path in mine.parents):
                    raise ValueError(f"{folder}={mine} overlaps {name}={path}; folder outputs need a path of their own")
        return self
