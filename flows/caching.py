"""Prefect cache keys for pipeline stages, keyed like DVC keys its stages.

A stage's key hashes its code (its module and the shared modules it imports), the values of the
params keys it declares, and the *content* of every file it reads. A changed prune param therefore
misses the prune cache, while ingest and train_dense still hit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

from tasks.config import Config
from tasks.io import digest
from tasks.stages import Stage


def params_subset(cfg: Config, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of dotted params keys (`train.batch_size`) as plain JSON data."""
    data = cfg.model_dump(mode="json")
    picked = {}
    for key in keys:
        value: Any = data
        for part in key.split("."):
            value = value[part]
        picked[key] = value
    return picked


def stage_key(stage: Stage, cfg: Config) -> str:
    """sha256 of the stage's code, declared params and dependency contents."""
    h = hashlib.sha256(stage.name.encode())
    for source in stage.sources():
        h.update(source.read_bytes())
    h.update(json.dumps(params_subset(cfg, stage.params), sort_keys=True).encode())
    for dep in stage.deps(cfg):
        h.update(f"{dep}={digest(dep) if dep.exists() else 'missing'}".encode())
    return h.hexdigest()


def outputs_missing(stage: Stage, cfg: Config) -> bool:
    """True when a declared output is gone: a cached result would point at nothing, so refresh."""
    return not all(path.exists() for path in stage.outs(cfg))


@dataclass
class StageCachePolicy(CachePolicy):
    """Cache policy for a stage task whose argument `cfg` is the run's `Config`."""

    stage: Stage | None = None

    def compute_key(
        self, task_ctx: TaskRunContext, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str:
        return stage_key(self.stage, inputs["cfg"])
