"""The pipeline's stages: what each reads, which params it depends on, what it writes.

One table for both entry points. `dvc.yaml` declares the same deps/params/outs (a test holds the two
in step); the Prefect flow keys its cache on them. Modules are imported only when a stage runs, so
validating params never pays TensorFlow's import.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.config import Config, SweepPoint
from tasks.io import stage_commit


@dataclass(frozen=True)
class Stage:
    """A pipeline step: module `tasks.<module>` exposes `<function>(cfg, *args)` (default `run(cfg)`)."""

    name: str
    module: str
    params: tuple[str, ...]
    deps: Callable[[Config], tuple[Path, ...]]
    outs: Callable[[Config], tuple[Path, ...]]
    function: str = "run"
    args: tuple = ()

    def run(self, cfg: Config) -> None:
        """Run the stage's edge function; its outputs are published together when it returns."""
        function = getattr(importlib.import_module(f"tasks.{self.module}"), self.function)
        with stage_commit():
            function(cfg, *self.args)

    def sources(self) -> tuple[Path, ...]:
        """The code the stage runs: its module and every `tasks` module it imports, transitively."""
        seen, todo = {self.module}, [self.module]
        while todo:
            for imported in _package_imports(_ROOT / f"{todo.pop()}.py"):
                if imported not in seen:
                    seen.add(imported)
                    todo.append(imported)
        return tuple(_ROOT / f"{m}.py" for m in [self.module, *sorted(seen - {self.module})])


_ROOT = Path(__file__).parent


def _package_imports(path: Path) -> set[str]:
    """Modules of this package that `path` imports (`from tasks.x import …`)."""
    tree = ast.parse(path.read_text())
    return {
        node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tasks.")
    }

# What a sweep point's pruning reads besides its own sparsity and schedule (given on its command
# line): every prune key except those two, so editing one sparsity reruns only that point.
SWEEP_PRUNE_PARAMS = (
    "prune.scope", "prune.initial_sparsity", "prune.begin_step", "prune.end_step", "prune.frequency",
    "prune.epochs", "prune.learning_rate", "prune.policy", "train.strategy", "train.batch_size",
    "train.augment", "train.weight_decay", "quantize.representative_samples",
)

STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest", "ingest", ("seed", "data"),
        deps=lambda c: (c.data.folder,),  # read only when data.source=folder; cheap to hash otherwise
        outs=lambda c: (c.paths.prepared,),
    ),
    Stage(
        "train_dense", "train", ("seed", "data.image_size", "model", "train"),
        # A local weights file is read too (dvc.yaml cannot list an optional file; see README).
        deps=lambda c: (c.paths.prepared, *_weights_file(c)),
        outs=lambda c: (c.paths.dense_model, c.paths.train_log),
    ),
    Stage(
        "prune", "prune", ("seed", "prune", "train.batch_size", "train.augment", "train.weight_decay"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model),
        outs=lambda c: (c.paths.pruned_model, c.paths.prune_log, c.paths.prune_steps, c.paths.prune_summaries),
    ),
    Stage(
        "strip", "strip", (),
        deps=lambda c: (c.paths.prepared, c.paths.pruned_model),
        outs=lambda c: (c.paths.stripped_model, c.paths.strip_check),
    ),
    Stage(
        "pqat", "pqat", ("seed", "quantize.pqat", "quantize.pqat_epochs", "quantize.pqat_learning_rate",
                         "train.batch_size", "train.augment", "train.weight_decay"),
        deps=lambda c: (c.paths.prepared, c.paths.stripped_model),
        outs=lambda c: (c.paths.pqat,),
    ),
    Stage(
        "export", "export", ("quantize.representative_samples", "export"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model, c.paths.stripped_model),
        outs=lambda c: (c.paths.export,),
    ),
    Stage(
        "bench", "bench", ("bench", "export", "quantize.pqat"),
        deps=lambda c: (c.paths.prepared, c.paths.export, c.paths.pqat),
        outs=lambda c: (c.paths.bench, c.paths.latency_samples),
    ),
    Stage(
        "evaluate", "evaluate", ("export", "quantize.pqat"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model, c.paths.stripped_model, c.paths.pruned_model,
                        c.paths.export, c.paths.pqat, c.paths.bench, c.paths.train_log, c.paths.prune_log),
        outs=lambda c: (c.paths.metrics, c.paths.sparsity_table, c.paths.per_class_table, c.paths.predictions,
                        c.paths.weight_histogram),
    ),
    Stage(
        "sensitivity", "sensitivity", ("prune.scope", "sensitivity.unit", "sensitivity.sparsities"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model),
        outs=lambda c: (c.paths.sensitivity,),
    ),
    # sweep_point@<sparsity>-<schedule> (one per point, see sweep_stage) runs here.
    Stage(
        "sweep_derived", "derived",
        ("seed", *SWEEP_PRUNE_PARAMS, "sensitivity"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model, c.paths.sensitivity),
        outs=lambda c: (c.paths.derived,),
    ),
    Stage(
        "sweep", "sweep", ("seed", "bench.warmup", "bench.runs", "bench.threads", "quantize.representative_samples",
                           "sweep.sparsities", "sweep.schedules", "sensitivity.derive"),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model, c.paths.sweep, c.paths.derived),
        outs=lambda c: (c.paths.sweep_table,),
    ),
    Stage(
        "report", "report", ("seed", "data", "model", "train", "prune", "quantize", "export", "bench", "sweep",
                             "sensitivity"),
        deps=lambda c: (c.paths.prepared, c.paths.metrics, c.paths.train_log, c.paths.prune_log, c.paths.prune_steps,
                        c.paths.sparsity_table, c.paths.per_class_table, c.paths.predictions,
                        c.paths.weight_histogram, c.paths.latency_samples, c.paths.bench, c.paths.sweep_table,
                        c.paths.sensitivity),
        outs=lambda c: (c.paths.report_md, c.paths.report_html, c.paths.figures),
    ),
)

def _weights_file(cfg: Config) -> tuple[Path, ...]:
    return (Path(cfg.model.weights),) if cfg.model.weights not in (None, "imagenet") else ()


def sweep_stage(point: SweepPoint) -> Stage:
    """The `sweep_point` stage of one point: DVC's matrix generates the same one, named the same."""
    return Stage(
        f"{SWEEP_POINT}@{point.name}", "sweep", ("seed", *SWEEP_PRUNE_PARAMS),
        deps=lambda c: (c.paths.prepared, c.paths.dense_model),
        outs=lambda c: (c.paths.sweep / point.name,),
        function="run_point", args=(point,),
    )


SWEEP_POINT = "sweep_point"


def pipeline_stages(cfg: Config) -> tuple[Stage, ...]:
    """Every stage of this config in dvc.yaml's order, the sweep points expanded after `sensitivity`."""
    at = next(i for i, stage in enumerate(STAGES) if stage.name == "sensitivity") + 1
    return (*STAGES[:at], *(sweep_stage(p) for p in cfg.sweep_points()), *STAGES[at:])


BY_NAME = {stage.name: stage for stage in STAGES}
