"""What metrics.json's numbers belong to, without the stage table: the params they were made with
(digested into `data.params_digest`) and the files that hold this run's wall-clock values.

Both are facts of the stage table (`pruneflow.pipeline.stages`), written out here so that the evaluate stage
need not import the table: an edit to the table (a new stage, another param of the sweep) then reruns
no stage by itself. tests/test_dvc_yaml.py checks that both still say what the table says.
"""

from __future__ import annotations

from typing import Any

from pruneflow.config.params import Config, config_digest

# Every params key read by evaluate or by a stage upstream of it (ingest → train_dense → prune → strip →
# pqat → export → bench, and the channel models and their benchmark): a section stands for all its keys.
METRICS_PARAMS = (
    "seed", "seeds", "data", "model", "train", "prune", "quantize", "export", "bench", "sweep", "sensitivity",
    *(f"channels.{key}" for key in ("scope", "criterion", "keep", "multiple", "schedule", "steps", "epochs",
                                    "min_steps", "learning_rate", "stacked_sparsity", "resolution",
                                    "resolution_runs", "sweep_keeps", "budget", "budget_series")),
)

# The outputs that hold wall-clock values (the table's `Out(..., timing=True)`), as paths keys, in table
# order; each stage's own timing file comes last.
TIMING_OUTPUTS = ("paths.bench", "paths.latency_samples", "paths.channel_latency", "paths.timings",
                  "paths.sweep_latency", "paths.report_md", "paths.report_html", "paths.figures")


def leaf_keys(cfg: Config, keys: tuple[str, ...]) -> tuple[str, ...]:
    """The dotted keys of every single value under `keys` (`bench` → `bench.batch`, `bench.runs`, …), sorted."""
    values = cfg.model_dump(mode="json")
    leaves: set[str] = set()

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                walk(f"{key}.{name}", inner)
        else:
            leaves.add(key)

    for key in keys:
        value: Any = values
        for part in key.split("."):
            value = value[part]
        walk(key, value)
    return tuple(sorted(leaves))


def metrics_digest(cfg: Config) -> str:
    """The digest of every params value metrics.json depends on: equal digests, the same settings."""
    return config_digest(cfg, leaf_keys(cfg, METRICS_PARAMS))


def timing_files(cfg: Config) -> list[str]:
    """Every file (or folder) of the pipeline that holds wall-clock values."""
    paths = cfg.paths.model_dump()
    return [*(str(paths[key.split(".", 1)[1]]) for key in TIMING_OUTPUTS), f"{cfg.paths.stage_timings}/<stage>.json"]
