"""The pipeline as one Prefect flow: `python -m flows.pipeline [--params params.yaml]`.

The same stage code as `dvc repro`, wired as cached Prefect tasks in a single process, so the
Prefect API (a temporary server when PREFECT_API_URL is unset) starts once per run, not per stage.
A second run with nothing changed reports every task Cached. The sweep's independent stages
(sensitivity → sweep_derived, and every sweep_point) run in a subflow on a task runner: one at a
time in-process by default, or on Dask (`--dask-workers N` for a local cluster of N processes,
`--dask-address` for a running scheduler). Each run also publishes the dense-vs-pruned table, the
report's explanation, the deployment variants and the sweep table as Prefect artifacts.
"""

from __future__ import annotations

import argparse
import errno
import sys

import pandas as pd
from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.caching import (
    StageCachePolicy,
    cache_hit_is_safe,
    output_digests,
    record_run,
    stage_key,
)
from tasks.config import Config, load_config
from tasks.errors import PipelineError
from tasks.metrics import (
    comparison_rows,
    format_table,
    format_variants,
    read_metrics,
    variant_rows,
)
from tasks.report import explanation, explanation_markdown
from tasks.stages import STAGES, SWEEP_POINT, Stage, pipeline_stages

# The stages that run in the sweep fan-out (plus every sweep_point), in place of the first of them.
FANNED_OUT = ("sensitivity", "sweep_derived")

# Artifact keys: lowercase letters, digits and dashes (Prefect's rule); a new version per flow run.
TABLE_ARTIFACT = "pruneflow-dense-vs-pruned"
EXPLANATION_ARTIFACT = "pruneflow-explanation"
VARIANTS_ARTIFACT = "pruneflow-deployment-variants"
SWEEP_ARTIFACT = "pruneflow-sweep"


# errno values of I/O that can succeed when tried again: a flaky network filesystem or remote,
# a busy resource. Disk full and permission errors are not among them: tasks/io.py reports those
# as PipelineError (bad input), and nothing deterministic is ever retried.
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE,
                              errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EHOSTUNREACH,
                              errno.ENETUNREACH, errno.ENETDOWN})


def is_transient(exc: BaseException | None) -> bool:
    """Whether a retry can help: I/O that failed for a passing reason (errno in TRANSIENT_ERRNOS,
    a timeout, a dropped connection); never bad input, a bug or a deterministic TensorFlow error."""
    if isinstance(exc, PipelineError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry_only_transient_io(task, task_run, state: State) -> bool:
    """Prefect's retry condition for stage tasks: retry transient I/O failures only."""
    data = getattr(state, "data", None)
    return is_transient(data if isinstance(data, BaseException) else None)


@task(cache_policy=StageCachePolicy(), persist_result=True, task_run_name="{stage.name}",
      retries=2, retry_delay_seconds=10, retry_condition_fn=retry_only_transient_io)
def run_stage(cfg: Config, stage: Stage) -> dict[str, str] | State:
    """Run one pipeline stage; return its outputs' digests (what a cache hit hands back)."""
    key = stage_key(stage, cfg)  # of the inputs as this run reads them
    try:
        stage.run(cfg)
    except PipelineError as exc:  # bad input: a failed state with one line, not a traceback
        return Failed(message=str(exc))
    outputs = output_digests(stage, cfg)
    if outputs is None:
        return Failed(message=f"wrote only part of its outputs {[str(p) for p in stage.outs(cfg)]}")
    record_run(stage, cfg, key, outputs)
    return outputs


def _task(stage: Stage, cfg: Config):
    """`run_stage` named for `stage`, its cache refreshed unless the files on disk are this run's."""
    return run_stage.with_options(name=stage.name.split("@")[0], refresh_cache=not cache_hit_is_safe(stage, cfg))


def task_runner(dask_workers: int = 0, dask_address: str | None = None):
    """Where the sweep's independent stages run: one at a time in this process (default; TensorFlow
    and Keras' global seed are per process, so concurrent threads would interfere), on a local Dask
    cluster of `dask_workers` processes, or on the Dask scheduler at `dask_address`."""
    if dask_address or dask_workers:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True})
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="pruneflow-sweep")
def sweep_fanout(cfg: Config) -> dict[str, dict[str, str]]:
    """sensitivity → sweep_derived, and every sweep_point, submitted together to the task runner."""
    stages = {stage.name: stage for stage in pipeline_stages(cfg)}
    points = [stage for name, stage in stages.items() if name.startswith(f"{SWEEP_POINT}@")]
    sensitivity = _task(stages["sensitivity"], cfg).submit(cfg, stages["sensitivity"])
    derived = _task(stages["sweep_derived"], cfg).submit(cfg, stages["sweep_derived"], wait_for=[sensitivity])
    # The same task code over every point; cache hits and refreshes are mapped separately.
    fresh = [p for p in points if cache_hit_is_safe(p, cfg)]
    stale = [p for p in points if p not in fresh]
    futures = [*(run_stage.with_options(name=SWEEP_POINT).map(unmapped(cfg), fresh) if fresh else []),
               *(run_stage.with_options(name=SWEEP_POINT, refresh_cache=True).map(unmapped(cfg), stale) if stale else []),
               sensitivity, derived]
    names = [*(p.name for p in fresh), *(p.name for p in stale), "sensitivity", "sweep_derived"]
    outputs = {}
    for name, future in zip(names, futures):
        future.wait()
        state = future.state
        if state.is_failed():
            return Failed(message=f"{name}: {state.message}")
        outputs[name] = state.result()
    return outputs


@task(name="publish_artifacts")
def publish_artifacts(cfg: Config) -> None:
    """The run's dense-vs-pruned table and explanation as Prefect artifacts (every run, cached or not)."""
    metrics = read_metrics(cfg.paths.metrics)
    sentences = explanation(metrics, pd.read_csv(cfg.paths.sparsity_table))
    create_table_artifact(comparison_rows(metrics).to_dict("records"), key=TABLE_ARTIFACT,
                          description="Dense vs pruned: values, ratio (x, dense ÷ pruned) or change")
    create_markdown_artifact(explanation_markdown(sentences, cfg.paths.report_html), key=EXPLANATION_ARTIFACT,
                             description="Why the numbers are what they are")
    variants = variant_rows(metrics)
    if not variants.empty:
        create_table_artifact(variants.to_dict("records"), key=VARIANTS_ARTIFACT,
                              description="Every TFLite variant: accuracy, size, zeros in the file, latency, speed-ups")
    sweep = pd.read_csv(cfg.paths.sweep_table).round(4)
    sweep = sweep.astype(object).where(sweep.notna(), None)  # JSON has no NaN (the dense row's prune time)
    create_table_artifact(sweep.to_dict("records"), key=SWEEP_ARTIFACT,
                          description="The sparsity sweep: accuracy, size, gzip bound and latency per target sparsity")


@flow(name="pruneflow")
def pipeline(params_path: str = "params.yaml", dask_workers: int = 0, dask_address: str | None = None) -> dict[str, dict[str, str]]:
    """ingest → train_dense → prune → strip → pqat → export → bench → evaluate, then the sweep fan-out
    (sensitivity, sweep_derived and every sweep_point on the chosen task runner), sweep → report; each
    stage cached on its inputs; then the table, explanation, variants and sweep artifacts."""
    try:
        cfg = load_config(params_path)
    except PipelineError as exc:
        return Failed(message=str(exc))
    outputs = {}
    fanned_out = False
    for stage in STAGES:
        if stage.name in FANNED_OUT:
            if not fanned_out:  # the whole fan-out, once, where its first stage sits
                state = sweep_fanout.with_options(task_runner=task_runner(dask_workers, dask_address))(cfg, return_state=True)
                if state.is_failed():
                    return Failed(message=state.message)
                outputs.update(state.result())
                fanned_out = True
            continue
        state = _task(stage, cfg)(cfg, stage, return_state=True)
        if state.is_failed():
            return Failed(message=f"{stage.name}: {state.message}")
        outputs[stage.name] = state.result()
    publish_artifacts(cfg)
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Validate params (before Prefect starts), run the flow, print the dense-vs-pruned table."""
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dask-workers", type=int, default=0, metavar="N",
                        help="fan the sweep out on a local Dask cluster of N worker processes")
    parser.add_argument("--dask-address", default=None, metavar="TCP://HOST:PORT",
                        help="fan the sweep out on this Dask scheduler (workers need this repo and its data)")
    args = parser.parse_args(argv)
    if args.dask_workers < 0:
        print(f"pruneflow: error: --dask-workers={args.dask_workers}: allowed is 0 (no Dask) or more", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.params)
    except PipelineError as exc:
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    state = pipeline(args.params, args.dask_workers, args.dask_address, return_state=True)
    if state.is_failed():
        print(f"pruneflow: error: {state.message}", file=sys.stderr)
        return 2
    metrics = read_metrics(cfg.paths.metrics)
    print(format_table(metrics))
    print(format_variants(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
