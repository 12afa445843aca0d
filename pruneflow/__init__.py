"""pruneflow's library: everything the stages share.

config (params.yaml → frozen Config), io (atomic writes), data (images → splits), model (build, fit,
save/load), training, pruning (wrap, schedules, masks, strip, the sparsity counter), pqat, tflite
(convert, run, count), timing (the interleaved benchmark), evaluation, metrics, sensitivity, sweep,
report/ (inputs, sentences, figures, rendering) and stages (the one stage table). The stage edges
live in `tasks/`; `python -m pruneflow <stage>` runs one.
"""
