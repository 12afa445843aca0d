"""Unstructured magnitude pruning with tfmot, and what is measured of it.

- `pruning`: wrap for pruning, schedules, masks, the fine-tune, strip (stages prune, strip);
- `coverage`: which layers tfmot prunes in any Keras model and what share of the parameters they hold;
- `sensitivity`: one layer at a time, the drop, and the per-layer targets derived from it;
- `sweep_points`: the main recipe at other target sparsities (stages sweep_point, sweep_derived);
- `sweep_table`: every point (and the channel series) side by side, timed (stage sweep);
- `stacked`: the channel-pruned model's file magnitude-pruned (stage stacked).

Reads `models` and `deploy`; never `channels` (a channel model is read as a file).
"""
