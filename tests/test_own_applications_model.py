"""A keras.applications classifier a user brings (`model.file`): MobileNetV3Small (Rescaling preprocessing,
squeeze-excitation, hard-swish TFOpLambda arithmetic) nested under the user's head and saved as `.h5`,
random weights with calibrated BatchNorm statistics (tests/own_models.py), no training. What each stage
does with such a file, in-process: train_dense adopts it as one flat model with the same outputs and
MACs; prune's tfmot wrappers reach the target on every kernel it can prune; the channel pruner rebuilds it
narrower, computing what its masked twin computes; int8 conversion folds its constant channels, takes raw
pixels and follows float. That the stages run one after another on a model file and write every output is
tests/test_own_model_pipeline.py's claim, on a plain tf_keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.config.dense import DataConfig, ModelConfig
from pruneflow.config.params import Config
from pruneflow.config.studies import ChannelsConfig
from pruneflow.deploy.int8_fold import constant_channels, fold_constant_channels
from pruneflow.deploy.tflite import representative_data, to_tflite
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.magnitude.coverage import prune_briefly
from pruneflow.magnitude.pruning import wrapped_layers
from pruneflow.models.adopt import adopted, read_model_file
from pruneflow.models.macs import count_macs
from pruneflow.models.sparsity import leaf_layers, prunable_weight_names
from pruneflow.models.store import load_model, save_model
from pruneflow.models.training import adopt_dense
from pruneflow.tf_env import keras
from tests.own_models import applications_classifier, structured_pixels
from tests.test_pruning_any_model import _assert_pruned_and_stripped

pytestmark = pytest.mark.slow  # each builds or converts a MobileNetV3Small: 20-60 s on 2 cores

CLASSES = ["a", "b", "c"]
SIDE = 64  # tests/own_models.py: at 32 px the last blocks see 1x1 maps and int8 cannot follow a random model
PIXELS = structured_pixels(8, SIDE, seed=2)
LABELS = np.arange(len(PIXELS)) % len(CLASSES)


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The user's nested classifier saved as `.h5` and `.keras`, with its outputs and MACs."""
    original = applications_classifier(len(CLASSES), SIDE)
    folder = tmp_path_factory.mktemp("own")
    files = {suffix: folder / f"mnv3{suffix}" for suffix in (".h5", ".keras")}
    for path in files.values():
        original.save(path)
    return {**files, "nested": any(isinstance(layer, keras.Model) for layer in original.layers),
            "outputs": original(PIXELS, training=False).numpy(), "macs": count_macs(original)}


def _adopted(path: Path) -> keras.Model:
    """The dense model train_dense builds from `model.file: path` (`adopt_dense`'s build, without scoring)."""
    return adopted(read_model_file(path), path, SIDE, CLASSES, "none")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_train_dense_adopts_a_nested_mobilenet_v3_as_one_flat_model_with_the_same_outputs_and_macs(
        user_files: dict, suffix: str, tmp_path: Path) -> None:
    cfg = Config(data=DataConfig(image_size=SIDE), model=ModelConfig(file=user_files[suffix]))  # adopt: keep
    model, log, epoch = adopt_dense(cfg, (PIXELS, LABELS), (PIXELS, LABELS), CLASSES)  # the log is not written
    assert user_files["nested"] and not any(isinstance(layer, keras.Model) for layer in model.layers)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Rescaling", "TFOpLambda", "Multiply"} <= kinds  # its own preprocessing, hard-swish, SE gates
    expected = user_files["outputs"]
    assert np.abs(expected - expected.mean(0)).max() > 0.05  # the premise: outputs depend on the image
    probabilities = model(PIXELS, training=False).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert count_macs(model) == user_files["macs"]  # flattening kept every multiply the nested count saw
    assert epoch == 1 and log.rows[0]["val_accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == LABELS))
    save_model(model, tmp_path / "dense.keras")  # what train_dense writes and every later stage loads
    np.testing.assert_allclose(load_model(tmp_path / "dense.keras")(PIXELS, training=False).numpy(), probabilities,
                               atol=1e-6)


def test_tfmot_prunes_every_kernel_of_the_adopted_mobilenet_v3_to_the_target(user_files: dict) -> None:
    dense = _adopted(user_files[".h5"])
    prunable = sum(1 for layer in leaf_layers(dense) if prunable_weight_names(layer))
    wrapped, stripped, check = prune_briefly(dense, PIXELS, LABELS, final_sparsity=0.5, steps=2)
    _assert_pruned_and_stripped(wrapped, stripped, check)  # target per kernel, strip and reload unchanged
    assert len(wrapped_layers(wrapped)) == prunable  # inside the former base too: adoption flattened it
    assert check["coverage"]["prunable_share_pct"] > 85.0


def test_channel_pruner_rebuilds_the_adopted_mobilenet_v3_narrower_as_its_masked_twin(user_files: dict) -> None:
    dense = _adopted(user_files[".h5"])
    c = ChannelsConfig(multiple=4)  # the pipeline's scope, criterion and keep; 4 as the own-model run used
    narrow, plan = prune_channels(dense, c.keep, c.scope, c.criterion, c.multiple)
    x = structured_pixels(8, SIDE, seed=3)
    full, masked, pruned = (m(x, training=False).numpy() for m in (dense, masked_model(dense, plan), narrow))
    scale = np.abs(masked).max()
    assert np.abs(full - masked).max() > 1e-2 * scale, "removing channels changed nothing: vacuous check"
    assert np.abs(masked - pruned).max() <= 2e-6 * scale
    assert narrow.count_params() < 0.5 * dense.count_params()
    assert count_macs(narrow) < 0.5 * count_macs(dense)


# Zeroed output channels, as magnitude pruning leaves them, in the stem, a depthwise and the last conv.
DEAD = {"Conv": [0, 1, 2], "expanded_conv_3/depthwise": [0, 1, 2], "Conv_1": [0, 1, 2]}


# Over the suite's 120 s limit by design: two MobileNetV3Small conversions: 134 s measured on the loaded 2-core machine.
@pytest.mark.timeout(240)
def test_int8_of_the_adopted_mobilenet_v3_folds_its_constant_channels_takes_raw_pixels_and_follows_float(
        user_files: dict, tmp_path: Path) -> None:
    dense = _adopted(user_files[".h5"])
    for name, channels in DEAD.items():
        kernel = dense.get_layer(name).weights[0]  # (h, w, in, out) or depthwise (h, w, in, 1)
        values = kernel.numpy()
        if isinstance(dense.get_layer(name), keras.layers.DepthwiseConv2D):
            values[:, :, channels, :] = 0.0
        else:
            values[..., channels] = 0.0
        kernel.assign(values)
        norm = dense.get_layer(f"{name}/BatchNorm")  # the statistics of an all-zero input
        mean, variance = norm.moving_mean.numpy(), norm.moving_variance.numpy()
        mean[channels], variance[channels] = 0.0, 0.0
        norm.moving_mean.assign(mean)
        norm.moving_variance.assign(variance)
    found = {name: channels.tolist() for name, channels in constant_channels(dense).items()}
    assert found == {f"{name}/BatchNorm": channels for name, channels in DEAD.items()}  # those, and no others
    x = structured_pixels(64, SIDE, seed=4)
    float_ = dense(x, training=False).numpy()
    folded = fold_constant_channels(dense)  # what to_tflite converts: a clone of the flat graph, refilled
    assert folded is not dense and not folded.get_layer("Conv_1/BatchNorm").moving_mean.numpy()[DEAD["Conv_1"]].any()
    np.testing.assert_allclose(folded(x, training=False).numpy(), float_, atol=1e-5)  # exactly constant: no change
    path = tmp_path / "dense.int8.tflite"
    path.write_bytes(to_tflite(dense, "int8", representative_data(structured_pixels(64, SIDE, seed=1), 64)))
    runner = TFLiteRunner(path)
    assert runner.input["dtype"] == np.uint8 and tuple(runner.input["quantization"]) == (1.0, 0)  # raw pixels in
    int8 = runner.predict(x.astype(np.uint8))
    # Measured on this random model: mean |Δp| 0.04, correlation 0.98 (the same file fed pixels / 4: 0.16, 0.80).
    assert np.abs(int8 - float_).mean() < 0.06
    assert np.corrcoef(int8.ravel(), float_.ravel())[0, 1] > 0.95
