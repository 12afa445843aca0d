"""The pipeline as one Prefect flow: `python -m flows.pipeline [--params params.yaml]`.

The same stage code as `dvc repro`, wired as cached Prefect tasks in a single process, so the
Prefect API (a temporary server when PREFECT_API_URL is unset) starts once per run, not per stage.
The order and the fan-out come from the stage table's deps and outs (`pruneflow.pipeline.stages.generations`):
the stages are run in waves, each wave reading only what earlier waves wrote, and every stage of a
wave is submitted to the task runner together: one at a time in-process by default, or in parallel
on Dask (`--dask-workers N` for a local cluster of N processes, `--dask-address` for a running
scheduler). A second run with nothing changed reports every task Cached. Each run also publishes the
dense-vs-pruned table, the report's explanation, the deployment variants and the sweep table as
Prefect artifacts.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

import pandas as pd
from prefect import flow, task
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
from pruneflow.artifacts.results import read_run_metrics, read_table_with_timings
from pruneflow.config.params import Config, load_config
from pruneflow.errors import PipelineError
from pruneflow.evaluation.tables import comparison_rows, format_run, variant_rows
from pruneflow.pipeline.dvc_cache import hand_outputs_to_dvc
from pruneflow.pipeline.stage import Stage
from pruneflow.pipeline.stages import generations, pipeline_stages
from pruneflow.report.sentences import explanation, explanation_markdown

# Artifact keys: lowercase letters, digits and dashes (Prefect's rule); a new version per flow run.
TABLE_ARTIFACT = "pruneflow-dense-vs-pruned"
EXPLANATION_ARTIFACT = "pruneflow-explanation"
VARIANTS_ARTIFACT = "pruneflow-deployment-variants"
SWEEP_ARTIFACT = "pruneflow-sweep"


# errno values of I/O that can succeed when tried again: a flaky network filesystem or remote,
# a busy resource. Disk full and permission errors are not among them: pruneflow/artifacts/files.py reports those
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
        missing = [str(p) for p in (*stage.out_paths(cfg), *stage.timing_paths(cfg)) if not p.exists()]
        return Failed(message=f"wrote only part of its outputs: missing {missing}")
    record_run(stage, cfg, key, outputs)
    return outputs


def _task(stage: Stage, cfg: Config):
    """`run_stage` named for `stage`, its cache refreshed unless the files on disk are this run's.

    Cached results live beside the stamps in the project (`paths.flow_stamps`), not in PREFECT_HOME:
    the cache travels with the outputs it describes (a copied project, a Dask worker, another user)."""
    results = (cfg.paths.flow_stamps / "results").resolve()  # a Path: Prefect stores there without a saved block
    return run_stage.with_options(name=stage.name.split("@")[0], refresh_cache=not cache_hit_is_safe(stage, cfg),
                                  result_storage=results)


def task_runner(dask_workers: int = 0, dask_address: str | None = None):
    """Where each wave's stages run: one at a time in this process (default; TensorFlow and Keras'
    global seed are per process, so concurrent threads would interfere), on a local Dask cluster of
    `dask_workers` processes, or on the Dask scheduler at `dask_address`."""
    if dask_address or dask_workers:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True})
    return ThreadPoolTaskRunner(max_workers=1)


def run_wave(cfg: Config, wave: list[Stage]) -> dict[str, dict[str, str]] | State:
    """Submit the stages of one wave to the flow's task runner together, then each timed stage alone
    (a latency measured beside other work would time the contention), and return their outputs'
    digests or the first failure. A stage's cache is refreshed unless the files on disk are this
    run's, decided now that the stages it reads from have finished."""
    outputs = {}
    batches = [[stage for stage in wave if not stage.timed], *([stage] for stage in wave if stage.timed)]
    for batch in batches:
        futures = {stage.name: _task(stage, cfg).submit(cfg, stage) for stage in batch}
        for name, future in futures.items():
            future.wait()
            if future.state.is_failed():
                return Failed(message=f"{name}: {future.state.message}")
            outputs[name] = future.state.result()
    return outputs


@task(name="publish_artifacts")
def publish_artifacts(cfg: Config) -> None:
    """The run's dense-vs-pruned table and explanation as Prefect artifacts (every run, cached or not)."""
    metrics = read_run_metrics(cfg.paths.metrics, cfg.paths.timings)
    sentences = explanation(metrics, pd.read_csv(cfg.paths.sparsity_table))
    create_table_artifact(comparison_rows(metrics).to_dict("records"), key=TABLE_ARTIFACT,
                          description="Dense vs pruned: values, ratio (x, dense ÷ pruned) or change")
    create_markdown_artifact(explanation_markdown(sentences, cfg.paths.report_html), key=EXPLANATION_ARTIFACT,
                             description="Why the numbers are what they are")
    variants = variant_rows(metrics)
    if not variants.empty:
        create_table_artifact(variants.to_dict("records"), key=VARIANTS_ARTIFACT,
                              description="Every TFLite variant: accuracy, size, zeros in the file, latency, speed-ups")
    sweep = read_table_with_timings(cfg.paths.sweep_table, cfg.paths.sweep_latency).round(4)
    sweep = sweep.astype(object).where(sweep.notna(), None)  # JSON has no NaN (the dense row's channel fields)
    create_table_artifact(sweep.to_dict("records"), key=SWEEP_ARTIFACT,
                          description="The sparsity sweep: accuracy, size, gzip bound and latency per target sparsity")


@flow(name="pruneflow")
def pipeline(params_path: str = "params.yaml", dask_workers: int = 0, dask_address: str | None = None) -> dict[str, dict[str, str]]:
    """Every stage of the table in dependency waves on the chosen task runner, each cached on its
    inputs; then the table, explanation, variants and sweep artifacts."""
    try:
        cfg = load_config(params_path)
    except PipelineError as exc:
        return Failed(message=str(exc))
    state = _run_waves.with_options(task_runner=task_runner(dask_workers, dask_address))(cfg, return_state=True)
    if state.is_failed():
        return Failed(message=state.message)
    publish_artifacts(cfg)
    return state.result()


@flow(name="pruneflow-stages")
def _run_waves(cfg: Config) -> dict[str, dict[str, str]]:
    """The waves of `pruneflow.pipeline.stages.generations`, one after the other, on this flow's task runner."""
    outputs = {}
    for wave in generations(pipeline_stages(cfg), cfg):
        result = run_wave(cfg, wave)
        if isinstance(result, State):
            return result
        outputs.update(result)
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Validate params (before Prefect starts), run the flow, print the run's tables (`format_run`)."""
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dask-workers", type=int, default=0, metavar="N",
                        help="run each wave of stages on a local Dask cluster of N worker processes")
    parser.add_argument("--dask-address", default=None, metavar="TCP://HOST:PORT",
                        help="run each wave of stages on this Dask scheduler (workers need this repo and its data)")
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
    metrics = read_run_metrics(cfg.paths.metrics, cfg.paths.timings)
    print(format_run(metrics))
    if Path(".dvc").is_dir():
        hand_outputs_to_dvc(Path.cwd())
    return 0


if __name__ == "__main__":
    from pruneflow.pipeline.console import clean_stderr  # TensorFlow's start-up chatter off stderr, errors kept

    with clean_stderr():
        status = main()
    sys.exit(status)
