"""Adopting a classifier trained elsewhere (model.file): any of the three file formats, nested or flat,
logits or probabilities, open or fixed input, becomes one flat model that computes what the user's
model computes on raw pixels. No training. (Bad files: tests/test_bad_input.py, the model.file cases; a
nested keras.applications MobileNetV3Small through every stage: tests/test_own_applications_model.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pruneflow.config.dense import ModelConfig
from pruneflow.config.families import family
from pruneflow.models.adopt import adopted, read_model_file
from pruneflow.models.classifier import build_classifier
from pruneflow.tf_env import keras, tf
from tests.own_models import user_classifier

CLASSES = ["a", "b", "c"]
PIXELS = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)


def _save(model: keras.Model, path: Path) -> Path:
    if path.suffix:
        model.save(path)
    else:
        model.save(path, save_format="tf")  # a SavedModel folder
    return path


def _nested(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.Model) for layer in model.layers)


@pytest.mark.parametrize("name", ["own.keras", "own.h5", "own_savedmodel"])
def test_a_nested_classifier_in_any_format_is_adopted_flat_and_computes_the_same(tmp_path: Path, name: str) -> None:
    original = user_classifier(len(CLASSES))
    path = _save(original, tmp_path / name)
    model = adopted(read_model_file(path), path, 32, CLASSES, "none")
    assert _nested(original) and not _nested(model)
    np.testing.assert_allclose(model.predict(PIXELS, verbose=0), original.predict(PIXELS, verbose=0), atol=1e-5)


def test_a_logits_output_gets_a_softmax_so_every_stage_sees_probabilities(tmp_path: Path) -> None:
    original = user_classifier(len(CLASSES), logits=True)
    path = _save(original, tmp_path / "logits.keras")
    model = adopted(read_model_file(path), path, 32, CLASSES, "none")
    assert model.layers[-1].name == "pruneflow_probabilities"
    expected = tf.nn.softmax(original.predict(PIXELS, verbose=0)).numpy()
    np.testing.assert_allclose(model.predict(PIXELS, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize(("preprocess", "scale", "offset"), [("unit", 1 / 255.0, 0.0), ("symmetric", 1 / 127.5, -1.0)])
def test_preprocessing_the_model_lacks_is_put_in_front(tmp_path: Path, preprocess: str, scale: float, offset: float) -> None:
    original = user_classifier(len(CLASSES), scale=False)
    path = _save(original, tmp_path / "raw.keras")
    model = adopted(read_model_file(path), path, 32, CLASSES, preprocess)
    assert model.layers[1].name == "pruneflow_scale"
    expected = original.predict(PIXELS * scale + offset, verbose=0)
    np.testing.assert_allclose(model.predict(PIXELS, verbose=0), expected, atol=1e-5)


def test_an_open_input_is_fixed_to_the_data_side(tmp_path: Path) -> None:
    original = user_classifier(len(CLASSES), side=None)
    path = _save(original, tmp_path / "open.keras")
    model = adopted(read_model_file(path), path, 32, CLASSES, "none")
    assert tuple(model.input_shape) == (None, 32, 32, 3)
    np.testing.assert_allclose(model.predict(PIXELS, verbose=0), original.predict(PIXELS, verbose=0), atol=1e-5)


@pytest.mark.slow  # six keras.applications builds: ~30 s
@pytest.mark.parametrize("architecture", ["MobileNetV3Small", "EfficientNetB0", "ResNet50", "DenseNet121",
                                          "ConvNeXtTiny", "RegNetX002"])
def test_any_keras_applications_family_builds_flat_under_the_project_head(architecture: str) -> None:
    model = build_classifier(ModelConfig(architecture=architecture), 3, 32)
    assert not _nested(model)
    assert model.output_shape == (None, 3) and model.layers[-1].name == "head_logits"
    probabilities = model.predict(PIXELS, verbose=0)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_each_family_feeds_its_weights_the_pixels_they_expect() -> None:
    model = build_classifier(ModelConfig(architecture="DenseNet121"), 3, 32)
    normalize = model.get_layer("imagenet_normalize")
    out = keras.Model(model.input, normalize.output).predict(np.full((1, 32, 32, 3), 255 * 0.485, np.float32), verbose=0)
    assert abs(float(out[0, 0, 0, 0])) < 1e-4  # the red channel at the ImageNet mean becomes 0
    assert family("mobilenet_v2").preprocess == "tf" and family("VGG16").preprocess == "caffe"
    assert family("EfficientNetB0").preprocess == "builtin" and not family("EfficientNetB0").has_alpha


def test_the_family_table_knows_every_installed_keras_applications_classifier() -> None:
    from pruneflow.config.families import NAMES

    installed = {name for name in dir(keras.applications) if name[0].isupper()}
    assert installed == set(NAMES)
    assert all(family(name).name == name for name in NAMES)


def test_the_report_names_the_adopted_model_and_the_share_magnitude_pruning_reached() -> None:
    from pruneflow.config.dense import DataConfig
    from pruneflow.config.params import Config
    from pruneflow.report.method import coverage_clause, model_sentence

    adopted_cfg = Config(model=ModelConfig(file=Path("models/own/user.keras"), preprocess="unit"))
    sentence = model_sentence(adopted_cfg, 3, 12_345)
    assert sentence.startswith("Model: adopted from models/own/user.keras (kept as it is; preprocessing: a [0, 1]")
    family_cfg = Config(model=ModelConfig(architecture="EfficientNetB0"), data=DataConfig(image_size=64))
    assert model_sentence(family_cfg, 3, 1).startswith("Model: EfficientNetB0 (from scratch")  # no α: it has none
    clause = coverage_clause({"layers_pruned_count": 7, "prunable_share_pct": 81.25})
    assert "tfmot pruned 7 layers, which hold 81.2 % of all the model's parameters" in clause
    assert coverage_clause({}) == ""
