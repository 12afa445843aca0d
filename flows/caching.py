"""Prefect cache keys for pipeline stages, keyed like DVC keys its stages.

A stage's key hashes its code (its module and the shared modules it imports), the values of the
params keys it declares, and the *content* of every file it reads. A changed prune param therefore
misses the prune cache, while ingest and train_dense still hit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

from pruneflow.artifacts.files import digest, write_json
from pruneflow.config.params import Config
from pruneflow.pipeline.stage import Stage


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
    for dep in (*stage.dep_paths(cfg), *stage.optional_deps(cfg)):
        h.update(f"{dep}={digest(dep) if dep.exists() else 'missing'}".encode())
    return h.hexdigest()


def output_digests(stage: Stage, cfg: Config) -> dict[str, str] | None:
    """Content digest of each output DVC tracks, or None if one of those or of the stage's timing files is
    missing. Timing files only need to exist: a rerun elsewhere (dvc repro) that reproduced the results
    exactly and only re-timed them leaves the flow's cached result valid."""
    outs = stage.out_paths(cfg)
    if not all(path.exists() for path in (*outs, *stage.timing_paths(cfg))):
        return None
    measured = set(stage.measured_paths(cfg))  # this machine's table: measured once, reused as it is
    return {str(path): digest(path) for path in outs if path not in measured}


def _stamp(stage: Stage, cfg: Config) -> Path:
    return cfg.paths.flow_stamps / f"{stage.name}.json"


def record_run(stage: Stage, cfg: Config, key: str, outputs: dict[str, str]) -> None:
    """Remember which cache key produced the outputs now on disk."""
    write_json(_stamp(stage, cfg), {"key": key, "outputs": outputs})


def cache_hit_is_safe(stage: Stage, cfg: Config) -> bool:
    """A cached result may be reused only if the files on disk are the ones this flow wrote for
    exactly these inputs. Deleted or changed outputs (by hand, by `dvc repro`, or by a flow run with
    other params) force the stage to run again instead of handing back paths to other content."""
    try:
        stamp = json.loads(_stamp(stage, cfg).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("key") == stage_key(stage, cfg) and stamp.get("outputs") == output_digests(stage, cfg)


@dataclass
class StageCachePolicy(CachePolicy):
    """Cache policy for a stage task called with the run's `Config` (`cfg`) and the `Stage` (`stage`)."""

    def compute_key(
        self, task_ctx: TaskRunContext, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str | None:
        # an always-run stage (machine) reads the machine, not files: no key, never a cache hit
        return None if inputs["stage"].always else stage_key(inputs["stage"], inputs["cfg"])
