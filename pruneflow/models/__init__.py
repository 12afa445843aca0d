"""Data and the Keras classifier: everything that makes or holds a model, before any pruning.

- `data`: raw images → resized RGB arrays, the stratified split (stage ingest), the prepared splits;
- `classifier`: the classifier (a family's base, or a user's, under pruneflow's head) and its XNNPACK form;
- `fit`: the fit loop (augmentation, datasets, callbacks, seeding, distribution strategies);
- `store`: save and load a model, byte-reproducibly, after vetting the file;
- `training`: dense training and adopting the dense baseline (stage train_dense);
- `adopt`: a user's own classifier file (`model.file`) taken as the dense baseline;
- `vetting`: what a model file may hold before Keras opens it (no Lambda code runs);
- `flatten`: nested models flattened into one functional graph;
- `toy`: `model.architecture: toy`, the small architecture for tests and smoke runs;
- `zoo`: the 18 keras.applications families built the way the pruner and its coverage tool meet them;
- `macs`: MACs and parameters from static shapes;
- `schedule`: the pruning fine-tune in steps, for a dataset of any size (pure);
- `sparsity`: the one sparsity counter (zeros over the weights tfmot may prune).

Reads `config`, `artifacts` and `errors`; never pruning of either kind.
"""
