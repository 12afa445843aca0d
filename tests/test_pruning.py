"""Pruning invariants, after tfmot's own tests: target reached, strip is exact, zero is a no-op."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pruneflow.artifacts.files import gzip_size
from pruneflow.config.params import Config
from pruneflow.config.prune import PruneConfig
from pruneflow.errors import PipelineError
from pruneflow.models.schedule import FineTune
from tests.builds import build_config

PLAN = FineTune(steps_per_epoch=10, epochs=2, begin_step=0, end_step=10, frequency=5)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(dvc_build: Path) -> tuple[Config, dict]:
    """The session build's prepared data and dense model (read only), with a two-epoch fine-tune:
    these tests prove invariants of pruning, not accuracy."""
    from pruneflow.models.data import SPLITS, load_split

    cfg = build_config(dvc_build)
    cfg = cfg.model_copy(update={"prune": cfg.prune.model_copy(update={"epochs": 2, "frequency": 1})})
    return cfg, {s: load_split(cfg.paths.prepared, s) for s in SPLITS}


def _with_prune(cfg: Config, **changes) -> Config:
    return cfg.model_copy(update={"prune": cfg.prune.model_copy(update=changes)})


def _prune(cfg: Config, data: dict):
    from pruneflow.magnitude import pruning
    from pruneflow.models import store as model

    return pruning.prune_model(model.load_model(cfg.paths.dense_model), cfg, data["train"], data["val"])


@pytest.fixture(scope="module")
def pruned(tiny):
    """The tiny dense model pruned to 80 % (all prunable layers), wrappers still on."""
    return _prune(*tiny)


def test_target_sparsity_is_reached_within_one_point_on_prunable_layers(pruned) -> None:
    from pruneflow.evaluation import variants as evaluation
    from pruneflow.magnitude import pruning

    stripped = pruning.strip(pruned)
    table = evaluation.layer_sparsity_table(stripped)
    overall = 100.0 * table["zeros"].sum() / table["params"].sum()
    assert abs(overall - 80.0) <= 1.0
    large = table[table["params"] >= 1000]
    assert len(large) == 3  # the build's toy: branch_3x3_conv, last_conv and head_dense
    assert (large["sparsity_pct"] - 80.0).abs().max() <= 1.0
    # tfmot registers DepthwiseConv2D with no prunable weight: pointwise convs and Dense carry the sparsity
    assert set(table["type"]) == {"Conv2D", "Dense"}


def test_head_scope_prunes_only_dense_layers(tiny) -> None:
    from pruneflow.evaluation import variants as evaluation
    from pruneflow.magnitude import pruning

    cfg, data = tiny
    table = evaluation.layer_sparsity_table(pruning.strip(_prune(_with_prune(cfg, scope="head"), data)))
    dense_rows = table[table["type"] == "Dense"]
    assert (dense_rows["sparsity_pct"] - 80.0).abs().max() <= 1.0
    assert table[table["type"] != "Dense"]["sparsity_pct"].max() < 1.0


def test_strip_leaves_no_wrapper_and_predicts_exactly_like_the_pruned_model(tiny, pruned) -> None:
    from pruneflow.magnitude import pruning
    from pruneflow.models import store as model

    cfg, data = tiny
    dense = model.load_model(cfg.paths.dense_model)
    # every layer tfmot can prune is wrapped (the build's toy has 7: five convolutions, two Dense)
    assert len(pruning.wrapped_layers(pruned)) == sum(bool(pruning.prunable_weight_names(l)) for l in dense.layers) == 7
    stripped = pruning.strip(pruned)
    check = pruning.check_stripped(pruned, stripped, data["test"][0].astype(np.float32))
    assert check["wrappers_remaining"] == 0
    assert check["max_abs_prediction_diff"] <= pruning.PREDICTION_TOLERANCE
    assert check["top1_agreement"] == 1.0


def test_zero_sparsity_is_a_no_op(tiny) -> None:
    from pruneflow.magnitude import pruning
    from pruneflow.models import store as model

    cfg, data = tiny
    dense = model.load_model(cfg.paths.dense_model)
    expected = dense.predict(data["test"][0].astype(np.float32), verbose=0)
    plan = FineTune(steps_per_epoch=4, epochs=2, begin_step=0, end_step=4, frequency=1)
    wrapped = pruning.wrap_for_pruning(model.load_model(cfg.paths.dense_model), _with_prune(cfg, final_sparsity=0.0).prune, plan)
    stripped = pruning.strip(wrapped)
    assert pruning.mask_sparsity(wrapped) == 0.0
    np.testing.assert_allclose(stripped.predict(data["test"][0].astype(np.float32), verbose=0), expected, atol=1e-6)
    tuned_wrapped = _prune(_with_prune(cfg, final_sparsity=0.0), data)
    assert pruning.mask_sparsity(tuned_wrapped) == 0.0
    tuned = pruning.strip(tuned_wrapped)
    assert all(np.count_nonzero(w) == w.size for w in tuned.get_weights() if w.ndim == 4)


def test_mask_sparsity_reports_the_reached_target(pruned) -> None:
    from pruneflow.magnitude import pruning

    # the control for the no-op test above: the same measurement sees 80 % when pruning happened
    assert pruning.mask_sparsity(pruned) == pytest.approx(0.8, abs=0.01)


def test_pruned_model_gzips_smaller_than_dense_and_unstripped_does_not(tiny, pruned, tmp_path: Path) -> None:
    from pruneflow.magnitude import pruning
    from pruneflow.models import store as model

    cfg, _ = tiny
    model.save_model(pruned, tmp_path / "wrapped.keras")
    model.save_model(pruning.strip(pruned), tmp_path / "stripped.keras")
    dense_gz = gzip_size(cfg.paths.dense_model)
    assert gzip_size(tmp_path / "stripped.keras") < 0.6 * dense_gz
    assert (tmp_path / "wrapped.keras").stat().st_size >= cfg.paths.dense_model.stat().st_size


def test_prune_stage_never_changes_the_dense_artifact(tiny, tmp_path: Path) -> None:

    cfg, _ = tiny
    before = hashlib.sha256(cfg.paths.dense_model.read_bytes()).hexdigest()
    out = {k: tmp_path / Path(v).name for k, v in
           (("pruned_model", cfg.paths.pruned_model), ("prune_log", cfg.paths.prune_log),
            ("prune_steps", cfg.paths.prune_steps), ("prune_summaries", cfg.paths.prune_summaries))}
    from tasks import prune as prune_stage

    prune_stage.run(cfg.model_copy(update={"paths": cfg.paths.model_copy(update=out)}))
    assert hashlib.sha256(cfg.paths.dense_model.read_bytes()).hexdigest() == before
    assert out["pruned_model"].is_file() and any(out["prune_summaries"].rglob("events.out.*"))


def test_m_by_n_pruning_leaves_at_most_two_nonzeros_in_every_four_input_weights(tiny) -> None:
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import (
        is_pruned_m_by_n,
    )

    from pruneflow.magnitude import pruning
    from pruneflow.tf_env import keras, tf

    cfg, data = tiny
    model = pruning.strip(_prune(_with_prune(cfg, sparsity_m_by_n=(2, 4)), data))
    convs = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
             and not isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert convs
    for layer in convs:
        kernel = layer.kernel.numpy()
        assert is_pruned_m_by_n(tf.constant(kernel), (2, 4)), layer.name
        # 2 zeros per full group of 4 input channels; a short last group (Conv1 has 3) keeps 2
        n_in = kernel.shape[-2]
        expected = (n_in // 4 * 2 + max(0, n_in % 4 - 2)) / n_in
        assert np.mean(kernel == 0) >= expected - 1e-6, (layer.name, kernel.shape)
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert all(np.mean(layer.depthwise_kernel.numpy() == 0) < 0.1 for layer in depthwise)  # not N:M-prunable


def test_xnnpack_policy_prunes_only_the_1x1_convolutions_of_the_xnnpack_form() -> None:
    from pruneflow.config.dense import ModelConfig
    from pruneflow.magnitude import pruning
    from pruneflow.models.classifier import build_classifier
    from pruneflow.tf_env import keras

    policy = PruneConfig(policy="xnnpack")
    wrapped = pruning.wrap_for_pruning(build_classifier(ModelConfig(form="xnnpack", alpha=0.35), 3, 32), policy, PLAN)
    inner = [layer.layer for layer in pruning.wrapped_layers(wrapped)]
    assert inner and all(isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1) for layer in inner)
    with pytest.raises(PipelineError, match=r"^prune.policy=xnnpack: Could not find `Conv2D 3x3`.*model.form: xnnpack$"):
        pruning.wrap_for_pruning(build_classifier(ModelConfig(alpha=0.35), 3, 32), policy, PLAN)


def test_xnnpack_form_keeps_the_weights_and_the_outputs_shape() -> None:
    from pruneflow.config.dense import ModelConfig
    from pruneflow.models.classifier import build_classifier
    from pruneflow.tf_env import keras

    stock = build_classifier(ModelConfig(alpha=0.35), 3, 32)
    form = build_classifier(ModelConfig(alpha=0.35, form="xnnpack"), 3, 32)
    assert form.count_params() == stock.count_params() and form.output_shape == stock.output_shape
    pads = [layer.padding for layer in form.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert pads and all(p == ((1, 1), (1, 1)) for p in pads)
    assert not any(getattr(layer, "padding", "valid") == "same" for layer in form.layers)
