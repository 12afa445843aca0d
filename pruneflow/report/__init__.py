"""The report library: explain what pruning did, from the run's own artifacts.

The `report` stage (tasks/report.py) reads metrics.json (with timings.json) and the tables that train_dense, prune,
evaluate, bench, channel_bench and sweep wrote, and writes `reports/report.md` (figures beside it), a self-contained
`reports/report.html` and the PNG figures. No number is typed by hand: every table cell and every
sentence is formatted from params and measurements, so a rerun rewrites the explanation.

- `inputs`: `RunArtifacts` and `load_artifacts`, the run's outputs read once;
- `sentences`: what was done and what it did to the dense model, in words;
- `tradeoffs`: the TFLite variants against the goals, and the sweep's recommendation (the highest
  sparsity whose loss is met by its paired CI), in words;
- `channels`: the structured channel-pruning section (MACs cut, speed-up and its efficiency, sizes,
  accuracy, the stacked model, the uniform-width baseline, each goal met or missed);
- `budget`: the latency-budget section (each budgeted model against its budget, the goals, greedy
  against uniform widths at equal latency with its paired confidence interval, the table's prediction check);
- `significance`: metrics.json's paired comparisons worded (CI, exact McNemar p, met / missed / "cannot
  tell with this test set") for the other modules' sentences, and the "How sure are these differences?"
  section: every comparison in one table, the test-set size that would resolve 0.5 pt, int8 collapses;
- `front`: the accuracy-against-measured-latency front (float and int8, two input sides);
- `figures`: the matplotlib figures and `png_bytes`;
- `render`: the sections in order, rendered to Markdown and HTML.

This module re-exports only what code outside the package imports.
"""
