"""The run measured side by side, and the tables printed from it.

- `variants`: dense vs pruned on the test split, and every deployable TFLite variant (stage evaluate);
- `metrics`: metrics.json's comparison section (ratios, deltas, speed-ups and their spread);
- `tables`: the printed tables and `format_run`, the one block `show`, evaluate and the flow print;
- `notes`: why a model is absent or repeats another's plan (the notes under the channel table);
- `channel_bench`: the structured-pruning table with its paired latencies (stage channel_bench);
- `seed_training`: the headline models retrained with one extra seed (stage seed_run@<seed>).

Reads every package below it; `report` reads it.
"""
