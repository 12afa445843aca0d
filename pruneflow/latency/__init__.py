"""Latency on the machine that runs the model: the per-layer TFLite table measured here, the
whole-model prediction made from it, and channel widths chosen to meet a latency budget.

- `table` (no TensorFlow): costed layers, their grids, interpolation, the prediction, the per-group view;
- `micro`: the per-layer timing (one multi-signature TFLite file per format);
- `widths`: which layers the table costs and their channel widths in any Keras model (no channel-graph import);
- `layers`: the costed layers and channel groups of a Keras model (`pruneflow.channels`);
- `importance`: first-order Taylor channel importance that compares across groups, for the search;
- `measure`: the table for every setting the config needs (stage latency_table);
- `budget` (no TensorFlow): the width search (greedy importance per ms, or uniform);
- `point`: a budgeted model, fine-tuned and written like a channel point (stage channel_budget).
"""
