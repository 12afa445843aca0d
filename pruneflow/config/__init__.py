"""`params.yaml`, parsed once into frozen, validated config.

Every stage receives a `Config`; nothing else reads params.yaml. Unknown keys and out-of-range
values are rejected with one line naming the key and what is allowed.

- `strict`: the strict `Int`, `Float` and `Bool` field types every section uses;
- `dense`: the `data`, `model` and `train` sections (the dense model);
- `prune`: the `prune`, `quantize`, `export` and `bench` sections (the main prune and its TFLite variants);
- `studies`: the `sweep`, `sensitivity` and `channels` sections, with `SweepPoint`, `ChannelPoint` and `SeedPoint`;
- `paths`: every file the pipeline reads or writes (the `paths` section; dvc.yaml templates the same keys);
- `families`: the keras.applications families `model.architecture` may name, and `toy` (no TensorFlow);
- `presets`: named params presets written into params.yaml (`python -m pruneflow preset <name>`);
- `params`: the top-level `Config`, which holds one of each section (and `paths`, from
  `pruneflow.config.paths`) and checks them against each other; `config_digest`; `parse_config` and
  `load_config`, which turn a pydantic error into one line.

Each section module imports only `strict` and `pruneflow.config.paths` (`studies` also `dense`), and
`params` imports them all; callers import each name from the module that defines it.
"""
