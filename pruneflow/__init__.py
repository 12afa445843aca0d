"""pruneflow's library: everything the stages share, one subpackage per concern.

The stage edges live in `tasks/` (one per stage, named as it); `python -m pruneflow <stage>` runs one
(`__main__`, which also prints `show`). Imports run one way, low to high (tests/test_layout.py holds
the order):

    config < artifacts < {stats, models} < deploy < {magnitude, channels} < latency < evaluation < report

with `pipeline`, `tools`, `flows/` and `__main__` on top, and `errors` and `tf_env` leaves anyone may use.

- `errors`: `PipelineError`, the one error users see (one line naming the input and what is allowed);
- `tf_env`: the single place TensorFlow, tf_keras and tfmot are loaded;
- `config`: params.yaml → frozen, validated config; the paths, the families, the presets;
- `artifacts`: files on disk: atomic writes, a point's folder, results vs timing files, the stage clock, lineage;
- `stats`: paired tests of accuracy differences and the spread of seeds (pure; scipy, statsmodels);
- `models`: images, the classifier, its fit loop, save/load, adopting a user's model, MACs, the zoo;
- `deploy`: TFLite conversion, the interleaved benchmark, the int8 fold, input sides, size and scoring;
- `magnitude`: tfmot magnitude pruning, its coverage, sensitivity, the sweep points and table, the stacked model;
- `channels`: the structured channel pruner (graph, plan, rebuild, per-layer handlers) and its training;
- `latency`: the per-layer latency table, the whole-model prediction and the width search for a budget;
- `evaluation`: the side-by-side measurements of a run, metrics.json, the printed tables, the seeds;
- `report`: the report, worded from the run's own files, and the PR comment's review tables;
- `pipeline`: the one stage table, its code deps, the console, DVC's cache hand-over, freshness;
- `tools`: command-line tools around the pipeline (dvc.yaml, the runner, the PR comment, the zoo).
"""
