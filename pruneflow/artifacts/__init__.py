"""What the pipeline writes, and how: files that are either whole or absent, and their layouts.

- `files`: atomic writes (`atomic_path`, `atomic_dir`), a stage's all-or-nothing publish (`stage_commit`),
  reproducible gzip, JSON/NPZ/CSV helpers, content digests;
- `points`: the folder of one trained point (file names, `point.json`, a record that is not a model);
- `results`: metrics.json's deterministic fields vs timings.json's wall-clock ones, and each stage's timing file;
- `phases`: the stage clock (where a stage's seconds went: start-up, training, conversion, benchmark);
- `lineage`: what metrics.json's numbers belong to (the params digest, the timing files), without the stage table.

Imports only `config` and `errors`; no TensorFlow.
"""
