"""`params.yaml`, parsed once into frozen, validated config.

Every stage receives a `Config`; nothing else reads params.yaml. Unknown keys and out-of-range
values are rejected with one line naming the key and what is allowed.

- `strict`: the strict `Int`, `Float` and `Bool` field types every section uses;
- `dense`: the `data`, `model` and `train` sections (the dense model);
- `prune`: the `prune`, `quantize`, `export` and `bench` sections (the main prune and its TFLite variants);
- `studies`: the `sweep`, `sensitivity` and `channels` sections, with `SweepPoint`, `ChannelPoint` and `SeedPoint`;
- `params`: the top-level `Config`, which holds one of each section (and `paths`, from
  `pruneflow.paths`) and checks them against each other; `config_digest`; `parse_config` and
  `load_config`, which turn a pydantic error into one line.

Each section module imports only `strict` and `pruneflow.paths` (`studies` also `dense`), and
`params` imports them all; callers import from `pruneflow.config`, which re-exports every public name.
"""

from __future__ import annotations

from pruneflow.config.dense import (
    IMAGE_SUFFIXES,
    MIN_IMAGE_SIZE,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from pruneflow.config.params import MAX_SEED, Config, config_digest, load_config, parse_config
from pruneflow.config.prune import (
    MIN_FINE_TUNE_STEPS,
    MIN_PRUNING_SHARE,
    TFLITE_FORMATS,
    BenchConfig,
    ExportConfig,
    PruneConfig,
    QuantizeConfig,
)
from pruneflow.config.strict import Bool, Float, Int
from pruneflow.config.studies import (
    SPARSITY_RANGE,
    BudgetConfig,
    ChannelPoint,
    ChannelsConfig,
    SeedPoint,
    SensitivityConfig,
    SweepConfig,
    SweepPoint,
)

__all__ = [
    "MAX_SEED",
    "IMAGE_SUFFIXES",
    "MIN_FINE_TUNE_STEPS",
    "MIN_IMAGE_SIZE",
    "MIN_PRUNING_SHARE",
    "SPARSITY_RANGE",
    "TFLITE_FORMATS",
    "AugmentConfig",
    "BenchConfig",
    "Bool",
    "BudgetConfig",
    "ChannelPoint",
    "ChannelsConfig",
    "Config",
    "DataConfig",
    "ExportConfig",
    "Float",
    "Int",
    "ModelConfig",
    "PruneConfig",
    "QuantizeConfig",
    "SeedPoint",
    "SensitivityConfig",
    "SweepConfig",
    "SweepPoint",
    "TrainConfig",
    "config_digest",
    "load_config",
    "parse_config",
]
