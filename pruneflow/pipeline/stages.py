"""The one table of the pipeline's stages: what each reads, which params it depends on, what it writes.

Both entry points come from it: `dvc.yaml` is generated from it (`make dvc.yaml`; a test fails when
the committed file differs) and the Prefect flow orders and fans out its tasks by the same deps and
outs. A stage's code deps are derived, not listed (`pruneflow.pipeline.code_deps`): its edge
`tasks/<name>.py` and every `pruneflow` module that edge imports, transitively — so an edit reruns
only the stages whose code changed.
Paths are `paths.*` keys of params.yaml (DVC templates the same keys). Edge modules are imported only
when a stage runs, so validating params never pays TensorFlow's import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pruneflow.config.params import Config
from pruneflow.config.prune import PruneConfig
from pruneflow.config.studies import ChannelPoint, ChannelsConfig, SeedPoint, SweepPoint
from pruneflow.pipeline.stage import CHANNEL_POINT, MATRIX_FOLDERS, SEED_RUN, SWEEP_POINT, Out, Stage, lookup


def _prune_recipe() -> tuple[str, ...]:
    """Every prune key except a point's own target and schedule (and the structured switch a point
    turns off), taken from the config model: a new prune param joins the points' params by itself."""
    point_keys = {"final_sparsity", "schedule", "sparsity_m_by_n"}
    return tuple(f"prune.{key}" for key in PruneConfig.model_fields if key not in point_keys)


def _channel_recipe() -> tuple[str, ...]:
    """The channels keys that shape a channel-pruned model, except its kept fraction (on a point's command line)."""
    other = {"keep", "sweep_keeps", "stacked_sparsity", "resolution", "resolution_runs", "budget", "budget_series"}
    return tuple(f"channels.{key}" for key in ChannelsConfig.model_fields if key not in other)


def _weights_file(cfg: Config) -> tuple[Path, ...]:
    """A local weights file, and an adopted model file (anywhere: dvc.yaml lists `paths.own_models`)."""
    weights = (Path(cfg.model.weights),) if cfg.model.weights not in (None, "imagenet") else ()
    return (*weights, *((cfg.model.file,) if cfg.model.file is not None else ()))


def _timings_read(*keys: str, stages: tuple[str, ...] = ()) -> Callable[[Config], tuple[Path, ...]]:
    """The timing files a stage reads (paths keys, and other stages' timing files): not DVC deps."""
    return lambda cfg: (*(Path(lookup(cfg, key)) for key in keys),
                        *(Path(cfg.paths.stage_timings) / f"{name}.json" for name in stages))


# The main pipeline, then the sweep. Stages that read the dense model also list `train` (and `model`
# via the model itself): a change there retrains the dense model, which reruns them anyway.
BUDGETS = ("channels.budget", "channels.budget_series")
STAGES: tuple[Stage, ...] = (
    # The machine every latency is measured on: each latency stage depends on it (a new machine re-measures).
    Stage("machine", ("bench.threads", *BUDGETS), (), (Out("paths.machine", git=True),), always=True),
    Stage("ingest", ("seed", "data"), ("data.folder",), (Out("paths.prepared"),)),
    Stage("train_dense", ("seed", "data.image_size", "model", "train"), ("paths.prepared", "paths.own_models"),
          (Out("paths.dense_model"), Out("paths.train_log", git=True, plot={"x": "epoch", "y": "val_accuracy"})),
          optional_deps=_weights_file),
    Stage("prune", ("seed", "prune", "train"), ("paths.prepared", "paths.dense_model"),
          (Out("paths.pruned_model"), Out("paths.prune_summaries"),
           Out("paths.prune_log", git=True, plot={"x": "epoch", "y": "val_accuracy"}),
           Out("paths.prune_steps", git=True, plot={"x": "step", "y": "sparsity"}))),
    Stage("strip", (), ("paths.prepared", "paths.pruned_model"),
          (Out("paths.stripped_model"), Out("paths.strip_check", git=True))),
    Stage("pqat", ("seed", "quantize.pqat", "quantize.pqat_epochs", "quantize.pqat_learning_rate", "train"),
          ("paths.prepared", "paths.stripped_model"), (Out("paths.pqat"),)),
    Stage("export", ("quantize.representative_samples", "export"),
          ("paths.prepared", "paths.dense_model", "paths.stripped_model"), (Out("paths.export"),)),
    Stage("bench", ("seed", "bench", "export", "quantize.pqat"),
          ("paths.prepared", "paths.export", "paths.pqat", "paths.machine"),
          (Out("paths.bench_setup", git=True), Out("paths.bench", git=True, timing=True),
           Out("paths.latency_samples", git=True, timing=True)), timed=True),
    # Structured channel pruning: the main kept fraction, the other fractions (DVC matrix, like the
    # sweep points), the stacked model, the uniform-width baseline, and their side-by-side benchmark.
    Stage("channel_prune", ("seed", "channels.keep", *_channel_recipe(), "train", "quantize.representative_samples"),
          ("paths.prepared", "paths.dense_model"), (Out("paths.channel"),)),
    Stage(CHANNEL_POINT, ("seed", *_channel_recipe(), "train", "quantize.representative_samples"),
          ("paths.prepared", "paths.dense_model"), ()),
    # Latency budgets: the per-layer table measured on this machine, then widths chosen to meet each budget.
    Stage("latency_table", ("seed", "data.image_size", "bench.threads", "channels.scope", "channels.multiple",
                            "quantize.representative_samples", *BUDGETS),
          ("paths.prepared", "paths.dense_model", "paths.machine"),
          (Out("paths.latency_table", git=True, measured=True),), timed=True),
    Stage("channel_budget", ("seed", *_channel_recipe(), *BUDGETS, "train", "quantize.representative_samples"),
          ("paths.prepared", "paths.dense_model", "paths.latency_table"), (Out("paths.channel_budget"),)),
    Stage("stacked", ("seed", "channels.stacked_sparsity", *_prune_recipe(), "prune.schedule", "train",
                      "quantize.representative_samples"), ("paths.prepared", "paths.channel"), (Out("paths.stacked"),)),
    # Trained for dense training's steps plus the channel fine-tune's (Scratch-B): channels.epochs/min_steps.
    Stage("uniform_baseline", ("seed", "data.image_size", "model", "train", "channels.epochs", "channels.min_steps",
                               "quantize.representative_samples"),
          ("paths.prepared", "paths.channel"), (Out("paths.uniform_baseline"),)),
    # One stage per extra seed (`seeds` > 1; DVC matrix): the five headline models retrained from the
    # prepared data alone. Its seed is on its command line, not in its params (nor `seeds`): raising
    # `seeds` adds stages and reruns none; its params are every other key the headline stages read.
    Stage(SEED_RUN, ("data.image_size", "model", "train", "prune", "channels.keep", "channels.stacked_sparsity",
                     *_channel_recipe(), "quantize.representative_samples"),
          ("paths.prepared", "paths.own_models"), (), optional_deps=_weights_file),
    Stage("channel_bench", ("seed", "bench.warmup", "bench.runs", "bench.threads", "channels.resolution",
                            "channels.resolution_runs", "channels.sweep_keeps", "export.formats",
                            "quantize.representative_samples"),
          ("paths.prepared", "paths.dense_model", "paths.stripped_model", "paths.export", "paths.channel",
           "paths.channel_sweep", "paths.stacked", "paths.uniform_baseline", "paths.channel_budget",
           "paths.latency_table", "paths.machine"),
          (Out("paths.channel_bench", git=True), Out("paths.channel_latency", git=True, timing=True)), timed=True),
    Stage("sensitivity", ("prune.scope", "sensitivity.unit", "sensitivity.sparsities"),
          ("paths.prepared", "paths.dense_model"), (Out("paths.sensitivity", git=True),)),
    # One stage per sweep.sparsities × sweep.schedules (DVC matrix): the point's own values are on
    # its command line, not in its params, so editing one sparsity reruns only that point.
    Stage(SWEEP_POINT, ("seed", *_prune_recipe(), "train", "quantize.representative_samples"),
          ("paths.prepared", "paths.dense_model"), ()),
    Stage("sweep_derived", ("seed", *_prune_recipe(), "train", "quantize.representative_samples", "sensitivity"),
          ("paths.prepared", "paths.dense_model", "paths.sensitivity"), (Out("paths.derived"),)),
    # evaluate also pairs every trained point's per-image predictions with dense's (pruneflow.stats.differences).
    Stage("evaluate", ("seeds", "export", "quantize.pqat", "bench.threads", "bench.batch", "sweep", "prune.final_sparsity",
                       "prune.schedule", "prune.sparsity_m_by_n", "sensitivity.derive", "channels.sweep_keeps", *BUDGETS),
          ("paths.prepared", "paths.dense_model", "paths.stripped_model", "paths.pruned_model", "paths.export",
           "paths.pqat", "paths.bench_setup", "paths.channel_bench", "paths.sweep", "paths.derived", "paths.channel",
           "paths.channel_sweep", "paths.stacked", "paths.uniform_baseline", "paths.channel_budget", "paths.seeds",
           "paths.machine"),
          (Out("paths.metrics", git=True, metric=True), Out("paths.timings", git=True, metric=True, timing=True),
           Out("paths.sparsity_table", git=True),
           Out("paths.per_class_table", git=True), Out("paths.predictions", git=True),
           Out("paths.weight_histogram", git=True)),
          optional_deps=_timings_read("paths.bench", "paths.channel_latency", stages=("train_dense", "prune"))),
    Stage("sweep", ("seed", "bench.warmup", "bench.runs", "bench.threads", "quantize.representative_samples",
                    "export.formats", "prune.final_sparsity", "prune.schedule", "prune.sparsity_m_by_n",
                    "sweep.sparsities", "sweep.schedules", "sensitivity.derive", "channels.keep", "channels.sweep_keeps"),
          ("paths.prepared", "paths.dense_model", "paths.stripped_model", "paths.export",
           "paths.sweep", "paths.derived", "paths.channel", "paths.channel_sweep", "paths.channel_budget",
           "paths.machine"),
          (Out("paths.sweep_table", git=True), Out("paths.sweep_latency", git=True, timing=True)), timed=True),
    Stage("report", ("seed", "data", "model", "train", "prune", "quantize", "export", "bench", "sweep", "sensitivity",
                     "channels"),
          ("paths.prepared", "paths.metrics", "paths.train_log", "paths.prune_log", "paths.prune_steps",
           "paths.sparsity_table", "paths.per_class_table", "paths.predictions", "paths.weight_histogram",
           "paths.bench_setup", "paths.sweep_table", "paths.sensitivity", "paths.channel_bench", "paths.machine"),
          # The report shows latency: it is a timing output itself (in git, not tracked by DVC).
          (Out("paths.report_md", git=True, timing=True), Out("paths.report_html", git=True, timing=True),
           Out("paths.figures", git=True, timing=True)),
          optional_deps=_timings_read("paths.timings", "paths.latency_samples", "paths.channel_latency",
                                      "paths.sweep_latency")),
)

BY_NAME = {stage.name: stage for stage in STAGES}
_TEMPLATES = {SweepPoint: SWEEP_POINT, ChannelPoint: CHANNEL_POINT, SeedPoint: SEED_RUN}


def matrix_points(name: str, cfg: Config) -> tuple[SweepPoint | ChannelPoint | SeedPoint, ...]:
    """The points a matrix stage expands to, in DVC's matrix order (none: the stage is not run)."""
    if name == SWEEP_POINT:
        return cfg.sweep_points()
    if name == SEED_RUN:
        return cfg.extra_seeds()
    return tuple(ChannelPoint(keep) for keep in cfg.channels.sweep_keeps)


def sweep_stage(point: SweepPoint | ChannelPoint | SeedPoint) -> Stage:
    """The matrix stage of one point, named as DVC's matrix names it (`sweep_point@0.5-polynomial`,
    `channel_point@0.35`, `seed_run@43`)."""
    template = BY_NAME[_TEMPLATES[type(point)]]
    return Stage(f"{template.name}@{point.name}", template.params, template.deps, template.outs,
                 optional_deps=template.optional_deps, point=point)


def pipeline_stages(cfg: Config) -> tuple[Stage, ...]:
    """Every stage of this config in dvc.yaml's order, the matrix templates expanded per point."""
    out: list[Stage] = []
    for stage in STAGES:
        if stage.name in MATRIX_FOLDERS:
            out.extend(sweep_stage(point) for point in matrix_points(stage.name, cfg))
        else:
            out.append(stage)
    return tuple(out)


def upstream(stages: tuple[Stage, ...], cfg: Config) -> dict[str, set[str]]:
    """Stage name → the stages whose outputs it reads (a dep equal to, inside or above an out)."""
    writers = [(out, stage.name) for stage in stages for out in stage.out_paths(cfg)]
    graph = {}
    for stage in stages:
        graph[stage.name] = {writer for dep in stage.dep_paths(cfg) for out, writer in writers
                             if writer != stage.name and (dep == out or out in dep.parents or dep in out.parents)}
    return graph


def timing_files(cfg: Config) -> list[str]:
    """Every file (or folder) of the pipeline that holds wall-clock values, in table order (what
    `pruneflow.artifacts.lineage.timing_files` says without the table, checked by a test)."""
    found = [str(path) for stage in STAGES for path in stage.timing_out_paths(cfg)]
    return [*dict.fromkeys(found), f"{cfg.paths.stage_timings}/<stage>.json"]


def params_upstream(cfg: Config, stage: str = "evaluate") -> tuple[str, ...]:
    """The params keys `stage` and every stage upstream of it read: what DVC compares to call its outputs
    stale (`pruneflow.artifacts.lineage.METRICS_PARAMS` says the same for evaluate, checked by a test)."""
    seen = ancestors(cfg, stage)
    return tuple(sorted({key for s in pipeline_stages(cfg) if s.name in seen for key in s.params}))


def ancestors(cfg: Config, stage: str) -> set[str]:
    """`stage` and every stage upstream of it, transitively (what its outputs depend on)."""
    graph, todo, seen = upstream(pipeline_stages(cfg), cfg), [stage], {stage}
    while todo:
        for name in graph.get(todo.pop(), set()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def generations(stages: tuple[Stage, ...], cfg: Config) -> list[list[Stage]]:
    """The stages in waves: each wave reads only outputs of earlier waves, so its stages may run in
    parallel (the flow submits a wave to its task runner together), in table order within a wave."""
    graph, done, waves = upstream(stages, cfg), set(), []
    while len(done) < len(stages):
        wave = [stage for stage in stages if stage.name not in done and graph[stage.name] <= done]
        if not wave:
            raise ValueError(f"stage graph has a cycle among {sorted(set(graph) - done)}")
        waves.append(wave)
        done.update(stage.name for stage in wave)
    return waves
