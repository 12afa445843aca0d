"""The report library: explain what pruning did, from the run's own artifacts.

The `report` stage (tasks/report.py) reads metrics.json (with timings.json) and the tables that train_dense, prune,
evaluate, bench, channel_bench and sweep wrote, and writes `reports/report.md` (figures beside it), a self-contained
`reports/report.html` and the PNG figures. No number is typed by hand: every table cell and every
sentence is formatted from params and measurements, so a rerun rewrites the explanation.

- `inputs`: `RunArtifacts` and `load_artifacts`, the run's outputs read once;
- `numbers`: how every section writes a share, bytes and megabytes, and the two thresholds its verdicts
  cite (`LATENCY_NOISE`, `MEANINGFUL_SIZE_X`);
- `method`: what was done, in words (model, data, dense training, the main prune's layers and schedule,
  the measurement setup, how the sensitivity scan was made);
- `sentences`: what pruning did to the dense model, in words (accuracy, sizes, the gzip bound, where
  the remaining weights are, latency, training cost);
- `variants`: the TFLite variants against the issue's goals (the smallest file within the accuracy goal,
  the fastest against the speed goal, the sparse encoding), in words;
- `sweep`: the sweep's table as shown, and its recommendation (the highest sparsity whose loss is met by
  its paired CI), what a rerun repeats and derived against uniform targets, in words;
- `channels`: the structured channel-pruning section (MACs cut, speed-up and its efficiency, sizes,
  accuracy, the stacked model, the uniform-width baseline, each goal met or missed);
- `budget_records`: the latency-budget section's inputs from the channel_bench table, and the wordings
  its sentences share;
- `budget`: the latency-budget section (each budgeted model against its budget, the goals, greedy
  against uniform widths at equal latency with its paired confidence interval, the table's prediction check);
- `change_words`: metrics.json's paired comparisons worded (CI, exact McNemar p, met / missed / "cannot
  tell with this test set") for the other modules' sentences, and the "How sure are these differences?"
  section: every comparison in one table, the test-set size that would resolve 0.5 pt, int8 collapses;
- `figures`: the colours every figure shares, `png_bytes`, and the dense-vs-pruned, deployment and
  sensitivity figures;
- `sweep_figure`: the sweep's accuracy against size and latency, in the colours of `figures`;
- `front`: the accuracy-against-measured-latency front (float and int8, two input sides);
- `render`: the sections in order, rendered to Markdown and HTML; it is where the modules above meet,
  and `tasks/report.py` imports only it and `inputs`.

Outside the report stage: `headline` (the models of a run's headline and its printed form, for
`python -m pruneflow show` and `pruneflow.tools.headline`) and `review` (the PR comment's tables, base
against head, with timings judged by `pruneflow.stats.noise`, for `pruneflow.tools.pr_comment`).

Code outside the package imports each name from its module; this file re-exports nothing.
"""
