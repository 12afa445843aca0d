"""The pipeline as one Prefect flow: `python -m flows.pipeline [--params params.yaml]`.

The same stage code as `dvc repro`, wired as cached Prefect tasks in a single process, so the
Prefect API (a temporary server when PREFECT_API_URL is unset) starts once per run, not per stage.
A second run with nothing changed reports every task Cached. Each run also publishes the
dense-vs-pruned table and the report's explanation as Prefect artifacts (the UI's Artifacts tab).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State

from flows.caching import StageCachePolicy, cache_hit_is_safe, output_digests, record_run, stage_key
from tasks.config import Config, load_config
from tasks.errors import PipelineError
from tasks.metrics import comparison_rows, format_table, format_variants, read_metrics, variant_rows
from tasks.report import explanation, explanation_markdown
from tasks.stages import STAGES, Stage

# Artifact keys: lowercase letters, digits and dashes (Prefect's rule); a new version per flow run.
TABLE_ARTIFACT = "pruneflow-dense-vs-pruned"
EXPLANATION_ARTIFACT = "pruneflow-explanation"
VARIANTS_ARTIFACT = "pruneflow-deployment-variants"


def stage_task(stage: Stage):
    """A Prefect task running `stage`; returns its outputs' digests (what a cache hit hands back)."""

    @task(name=stage.name, cache_policy=StageCachePolicy(stage=stage), persist_result=True)
    def run_stage(cfg: Config) -> dict[str, str] | State:
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

    return run_stage


STAGE_TASKS = {stage.name: stage_task(stage) for stage in STAGES}


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


@flow(name="pruneflow")
def pipeline(params_path: str = "params.yaml") -> dict[str, dict[str, str]]:
    """ingest → train_dense → prune → strip → pqat → export → bench → evaluate → report, each cached on
    its inputs; then the table, explanation and deployment-variants artifacts."""
    try:
        cfg = load_config(params_path)
    except PipelineError as exc:
        return Failed(message=str(exc))
    outputs = {}
    for stage in STAGES:
        run = STAGE_TASKS[stage.name].with_options(refresh_cache=not cache_hit_is_safe(stage, cfg))
        state = run(cfg, return_state=True)
        if state.is_failed():
            return Failed(message=f"{stage.name}: {state.message}")
        outputs[stage.name] = state.result()
    publish_artifacts(cfg)
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Validate params (before Prefect starts), run the flow, print the dense-vs-pruned table."""
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.params)
    except PipelineError as exc:
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    state = pipeline(args.params, return_state=True)
    if state.is_failed():
        print(f"pruneflow: error: {state.message}", file=sys.stderr)
        return 2
    metrics = read_metrics(cfg.paths.metrics)
    print(format_table(metrics))
    print(format_variants(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
