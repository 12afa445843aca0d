"""Write `dvc.yaml` from the stage table: `python -m pruneflow.tools.dvc_yaml [--check]` (`make dvc.yaml`).

The file is generated, never edited: each stage's cmd, code deps (its edge and the library modules
it imports), data deps, params keys and outputs come from `pruneflow.pipeline.stages`; the seed_run matrix's
seeds come from params.yaml (`seed`, `seeds`), so a new `seeds` needs `make dvc.yaml` (`make run` runs
it first). `--check` exits 1 when the committed file differs from what the table generates
(tests/test_dvc_yaml.py runs it too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pruneflow.config.params import Config, load_config
from pruneflow.errors import PipelineError
from pruneflow.pipeline.code_deps import REPO
from pruneflow.pipeline.stage import CHANNEL_POINT, SEED_RUN, SWEEP_POINT, Out, Stage
from pruneflow.pipeline.stages import STAGES

HEADER = """\
# GENERATED from pruneflow/pipeline/stages.py by `make dvc.yaml` (python -m pruneflow.tools.dvc_yaml): do not edit.
# Paths come from params.yaml's `paths` section (DVC loads params.yaml as template vars), so no path
# is written twice. Each stage lists its code (its edge in tasks/ and the pruneflow modules it imports),
# the data and the params keys it reads. Outputs are `persist: true`: DVC leaves the previous good
# outputs in place while a stage runs, and the stage replaces them atomically only once it succeeded.
# Every output listed here is a pure function of its stage's inputs. Wall-clock values (latency,
# seconds) go to timing files, kept in git but no stage's output or dependency here (each stage's
# comment names its own; every stage also writes ${paths.stage_timings}/<stage>.json), so a rerun that
# reproduces the results leaves `dvc status` clean. timings.json is a top-level metric below.
"""

# `dvc plots show` / `dvc plots diff main` (offline: see .dvc/config and vendor/vega): the report's PNG
# figures, the confusion matrices, the latency samples and the sweep, besides each stage's curves.
PLOTS = """\
plots:
  - ${paths.figures}
  - confusion_dense:
      template: confusion
      x: actual
      y:
        ${paths.predictions}: dense
  - confusion_pruned:
      template: confusion
      x: actual
      y:
        ${paths.predictions}: pruned
  - latency_ms:
      template: scatter
      x: run
      y:
        ${paths.latency_samples}: [dense_ms, pruned_ms]
  - sweep_accuracy:
      title: "Sweep: test accuracy vs target sparsity"
      x: target_sparsity
      y:
        ${paths.sweep_table}: [test_accuracy_pct, int8_test_accuracy_pct]
  - sweep_size:
      title: "Sweep: gzipped float TFLite bytes and the gzip bound vs target sparsity"
      x: target_sparsity
      y:
        ${paths.sweep_table}: [tflite_gzip_bytes, gzip_bound_bytes]
  - sensitivity:
      title: "Sensitivity: validation accuracy drop per unit pruned alone"
      template: scatter
      x: unit
      y:
        ${paths.sensitivity}: drop_pts
"""


def _summary(stage: Stage) -> list[str]:
    """The edge's docstring, as the stage's comment."""
    import ast

    doc = ast.get_docstring(ast.parse(stage.sources()[0].read_text())) or ""
    return [f"  # {line}".rstrip() for line in doc.split("\n\n")[0].splitlines()]


def _out(out: Out) -> list[str]:
    lines = [f"      - ${{{out.key}}}:"]
    lines += [f"          {k}: {v}" for k, v in (out.plot or {}).items()]
    if out.git:
        lines.append("          cache: false")
    lines.append("          persist: true")
    return lines


def stage_yaml(stage: Stage, cfg: Config) -> list[str]:
    """One stage's lines of dvc.yaml (`cfg` gives the seed_run matrix its seeds)."""
    timing = [f"${{{out.key}}}" for out in stage.outs if out.timing]
    note = [f"  # Timing files (in git, not tracked here): {', '.join(timing)}."] if timing else []
    lines = [*_summary(stage), *note, f"  {stage.name}:"]
    if stage.name == SWEEP_POINT:
        lines += ["    matrix:", "      sparsity: ${sweep.sparsities}", "      schedule: ${sweep.schedules}",
                  f"    cmd: python -m pruneflow {SWEEP_POINT} --sparsity ${{item.sparsity}} --schedule ${{item.schedule}}"]
    elif stage.name == CHANNEL_POINT:
        lines += ["    matrix:", "      keep: ${channels.sweep_keeps}",
                  f"    cmd: python -m pruneflow {CHANNEL_POINT} --keep ${{item.keep}}"]
    elif stage.name == SEED_RUN:
        # A literal list, written from params.yaml's `seeds`: DVC's templating can name a params list but
        # not compute seed+1 .. seed+seeds-1 from two ints. An empty list expands to no stage (seeds: 1).
        seeds = ", ".join(point.name for point in cfg.extra_seeds())
        lines += ["    matrix:", f"      seed: [{seeds}]",
                  f"    cmd: python -m pruneflow {SEED_RUN} --seed ${{item.seed}}"]
    else:
        lines.append(f"    cmd: python -m pruneflow {stage.name}")
    if stage.always:
        lines.append("    always_changed: true")
    lines.append("    deps:")
    lines += [f"      - {path.relative_to(REPO).as_posix()}" for path in stage.sources()]
    lines += [f"      - ${{{key}}}" for key in stage.deps]
    if stage.params:
        lines += ["    params:", *(f"      - {key}" for key in stage.params)]
    tracked = [o for o in stage.outs if not o.timing]
    sections = {
        "metrics": [o for o in tracked if o.metric],
        "outs": [o for o in tracked if not o.metric and not o.plot],
        "plots": [o for o in tracked if o.plot],
    }
    if stage.name == SWEEP_POINT:  # one folder per point, named as the stage's matrix suffix
        lines += ["    outs:", "      - ${paths.sweep}/${item.sparsity}-${item.schedule}:", "          persist: true"]
    if stage.name == CHANNEL_POINT:
        lines += ["    outs:", "      - ${paths.channel_sweep}/${item.keep}:", "          persist: true"]
    if stage.name == SEED_RUN:
        lines += ["    outs:", "      - ${paths.seeds}/${item.seed}:", "          persist: true"]
    for section, outs in sections.items():
        if outs:
            lines.append(f"    {section}:")
            for out in outs:
                lines += _out(out)
    return lines


def render(cfg: Config | None = None) -> str:
    """The whole dvc.yaml text for `cfg` (default: the repository's params.yaml; only `seeds` and
    `seed` change the text: the seed_run matrix)."""
    cfg = cfg or load_config(REPO / "params.yaml")
    lines = ["stages:"]
    for stage in STAGES:
        lines += [*stage_yaml(stage, cfg), ""]
    # Timing metrics files: `dvc metrics show/diff` read them, `dvc status` never hashes them.
    metrics = [f"  - ${{{out.key}}}" for stage in STAGES for out in stage.outs if out.timing and out.metric]
    return HEADER + "\n".join(lines) + "metrics:\n" + "\n".join(metrics) + "\n" + PLOTS


def main(argv: list[str] | None = None) -> int:
    """Write dvc.yaml, or with --check report whether the committed one is current."""
    parser = argparse.ArgumentParser(prog="python -m pruneflow.tools.dvc_yaml", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from the stage table")
    parser.add_argument("--out", type=Path, default=REPO / "dvc.yaml")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml", help="the seed_run matrix's `seed`, `seeds`")
    args = parser.parse_args(argv)
    try:
        text = render(load_config(args.params))
    except PipelineError as exc:  # bad params: one line, dvc.yaml untouched
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out}: out of date with pruneflow/pipeline/stages.py; run `make dvc.yaml`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(STAGES)} stages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
