"""Structured channel pruning for Keras functional models: remove whole channels, rebuild a narrower
model with sliced weights (stages channel_prune, channel_point; the keras.applications zoo).

Unstructured zeros buy no speed on x86 (XNNPACK's sparse path is off with AVX) and no raw size; fewer
channels buy both on any CPU. The approach is DepGraph's (Fang et al. 2023, Torch-Pruning):

- `registry` + `convs`, `layers`, `ops`: one handler per layer type says how channels flow through it
  (start a space, carry, merge, concatenate by index ranges, fix) and how to narrow its config and
  weights. An unknown type stops the pruner with one line naming it. The registry is a leaf: the
  handler modules import it to register, and `handlers` imports them all and looks a layer up
  (`handler_for`) for the graph and the plan.
- `graph`: walks the model (nested models flattened first, `pruneflow.models.flatten`) asking each layer's
  handler for its output *layout* — segments of channel spaces — and unites the spaces elementwise
  merges tie into `Group`s (a residual stream is one group, a concatenation is several side by side).
- `plan`: ranks each group's channels (`Criterion`, DepGraph's group norm or BatchNorm scale) and keeps
  the same fraction in every group of the scope, rounded to a multiple the CPU kernels like (per block
  where a grouped conv reads the group).
- `rebuild`: `apply_plan` edits the config and slices every weight by the handlers; `masked_model`
  zeroes the removed channels' reader weights instead — the same function, which the tests check for
  every supported graph and every keras.applications family (tests/test_channels_zoo.py).

Where exactness cannot hold the channels are kept rather than approximated: LayerNormalization over
the channels couples them all (its space is fixed), and a merge of layouts that do not line up
segment by segment fixes their spaces.

- `training`: channel-pruned models fine-tuned and written like sweep points (stages channel_prune,
  channel_point, uniform_baseline; the latency budget's points reuse it).
"""
