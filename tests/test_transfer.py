"""Transfer learning as the seed did it: a backbone weights file from a model this project trained,
a frozen base that keeps its weights while the head trains, and what tfmot does when it prunes a
frozen base (flat, as pruneflow builds it, or nested, as many users do)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.builds import build_config

pytestmark = pytest.mark.slow


def _base_weights(model) -> dict[str, np.ndarray]:
    """Every weight of the base (everything before the head), by name."""
    return {w.name: w.numpy().copy() for layer in model.layers if not layer.name.startswith("head_")
            for w in layer.weights}


def _head_kernels(model) -> dict[str, np.ndarray]:
    return {name: model.get_layer(name).kernel.numpy().copy() for name in ("head_dense", "head_logits")}


@pytest.fixture(scope="module")
def transfer(dvc_build: Path, tmp_path_factory: pytest.TempPathFactory):
    """The shared build's dense model as a backbone; a frozen-base classifier trained on its data."""
    from pruneflow.models.classifier import build_classifier
    from pruneflow.models.data import load_classes, load_split
    from pruneflow.models.fit import seed_everything
    from pruneflow.models.store import save_model
    from pruneflow.models.training import train_dense
    from pruneflow.tools.backbone import write_backbone

    root = tmp_path_factory.mktemp("transfer")
    build = build_config(dvc_build)
    weights = root / "backbone.weights.h5"
    assert write_backbone(build.paths.dense_model, weights) > 0
    model_cfg = build.model.model_copy(update={"weights": str(weights), "freeze_base": True})
    cfg = build.model_copy(update={
        "model": model_cfg,
        "train": build.train.model_copy(update={"epochs": 3, "min_steps": 0, "min_margin_pts": None}),
        "paths": build.paths.model_copy(update={"train_log": root / "train.csv"}),
    })
    train, val = load_split(build.paths.prepared, "train"), load_split(build.paths.prepared, "val")
    classes = len(load_classes(build.paths.prepared))
    seed_everything(cfg.seed)
    initial = build_classifier(cfg.model, classes, cfg.data.image_size)  # what train_dense starts from (same seed)
    model, _, _ = train_dense(cfg, train, val, classes)
    save_model(model, root / "dense.keras")
    return cfg, root, initial, model, (train, val)


def test_the_backbone_file_carries_the_trained_base(transfer, dvc_build: Path) -> None:
    from pruneflow.models.store import load_model

    _, _, initial, _, _ = transfer
    trained = _base_weights(load_model(build_config(dvc_build).paths.dense_model))
    loaded = _base_weights(initial)
    assert loaded.keys() == trained.keys() and len(loaded) == 30  # the toy base: 5 convs, 1 depthwise, 6 BatchNorms
    assert all(np.array_equal(loaded[name], trained[name]) for name in loaded)


def test_a_frozen_base_keeps_its_weights_and_only_the_head_trains(transfer) -> None:
    _, _, initial, model, _ = transfer
    assert {w.name.split("/")[0] for w in model.trainable_weights} == {"head_dense", "head_logits"}
    before, after = _base_weights(initial), _base_weights(model)
    assert all(np.array_equal(before[name], after[name]) for name in before)  # BatchNorm statistics included
    start, end = _head_kernels(initial), _head_kernels(model)
    assert all(not np.array_equal(start[name], end[name]) for name in start)


def _prune(transfer, scope: str):
    from pruneflow.magnitude.pruning import prune_model, strip

    cfg, root, _, _, (train, val) = transfer
    cfg = cfg.model_copy(update={"prune": cfg.prune.model_copy(
        update={"scope": scope, "final_sparsity": 0.5, "epochs": 2, "min_steps": 20})})
    return strip(prune_model(root / "dense.keras", cfg, train, val))


def test_head_pruning_of_a_frozen_base_prunes_and_trains_the_head_alone(transfer) -> None:
    _, _, _, dense, _ = transfer
    pruned = _prune(transfer, "head")
    before, after = _base_weights(dense), _base_weights(pruned)
    assert all(np.array_equal(before[name], after[name]) for name in before)
    for name, kernel in _head_kernels(pruned).items():
        assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01), name


def test_whole_model_pruning_masks_a_frozen_base_one_shot_and_never_retrains_it(transfer) -> None:
    """tfmot wraps the frozen layers too and applies its magnitude masks to them (the masks are assigned,
    not learned), but the optimizer never sees them: each base kernel ends at the target sparsity with
    every surviving weight exactly as it was. Only the head can adapt to the loss."""
    from pruneflow.models.sparsity import prunable_weight_names

    _, _, _, dense, _ = transfer
    pruned = _prune(transfer, "all")
    checked = 0
    for layer in pruned.layers:
        if layer.name.startswith("head_") or not prunable_weight_names(layer):
            continue
        for name in prunable_weight_names(layer):
            kept, was = getattr(layer, name).numpy(), getattr(dense.get_layer(layer.name), name).numpy()
            assert np.mean(kept == 0) == pytest.approx(0.5, abs=0.02), layer.name
            assert np.array_equal(kept[kept != 0], was[kept != 0]), layer.name
            checked += 1
    assert checked == 5  # the toy base: its five convolutions


def test_tfmot_recurses_into_a_frozen_nested_base_and_masks_it_without_training_it() -> None:
    """A base kept as a nested Model (`base.trainable = False`, the other common way to freeze): tfmot
    0.8.1 clones into it, wraps its layers (still frozen), masks their kernels, and trains the head only."""
    from pruneflow.tf_env import keras, tfmot

    api = tfmot.sparsity.keras
    keras.utils.set_random_seed(0)
    base_in = keras.Input((8,))
    base = keras.Model(base_in, keras.layers.Dense(16, name="b")(base_in), name="base")
    base.trainable = False
    before = base.get_layer("b").kernel.numpy().copy()
    inputs = keras.Input((8,))
    nested = keras.Model(inputs, keras.layers.Dense(2, name="head")(base(inputs)))
    pruned = api.prune_low_magnitude(nested, pruning_schedule=api.ConstantSparsity(0.5, 0, frequency=1))
    inner = pruned.get_layer("base").get_layer("prune_low_magnitude_b")
    assert not inner.trainable
    assert [w.name.split("/")[0] for w in pruned.trainable_weights] == ["head", "head"]
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.random.default_rng(0).random((64, 8), np.float32), np.arange(64) % 2
    pruned.fit(x, y, epochs=2, callbacks=[api.UpdatePruningStep()], verbose=0)
    kernel = api.strip_pruning(pruned).get_layer("base").get_layer("b").kernel.numpy()
    assert np.mean(kernel == 0) == 0.5
    assert np.array_equal(kernel[kernel != 0], before[kernel != 0])
