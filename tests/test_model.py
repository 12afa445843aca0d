"""The classifier: the brief's head on a flat MobileNet, BatchNorm momentum applied, safe loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pruneflow.config.dense import ModelConfig
from pruneflow.errors import PipelineError

pytestmark = pytest.mark.slow  # imports TensorFlow


@pytest.mark.parametrize("architecture", ["mobilenet_v2", "mobilenet"])
def test_classifier_has_the_mobilenet_base_and_dense128_dropout_denseN_head(architecture: str) -> None:
    from pruneflow.models.classifier import build_classifier
    from pruneflow.tf_env import keras

    model = build_classifier(ModelConfig(architecture=architecture, alpha=0.25, bn_momentum=0.8), 3, 32)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 3)
    head = model.layers[-3:]
    assert [type(layer).__name__ for layer in head] == ["Dense", "Dropout", "Dense"]
    assert head[0].units == 128 and head[1].rate == 0.2 and head[2].activation.__name__ == "softmax"
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and {layer.momentum for layer in norms} == {0.8}
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)  # flat: tfmot can wrap each layer
    probs = model.predict(np.full((2, 32, 32, 3), 255.0, np.float32), verbose=0)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_weights_file_of_the_wrong_model_is_a_one_line_error(tmp_path: Path) -> None:
    from pruneflow.models.classifier import build_classifier
    from pruneflow.tf_env import keras

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    weights = tmp_path / "other.weights.h5"
    other.save_weights(weights)
    with pytest.raises(PipelineError, match=r"model.weights=.*other.weights.h5.*cannot load") as info:
        build_classifier(ModelConfig(weights=str(weights), alpha=0.25), 3, 32)
    assert "\n" not in str(info.value)


def test_loading_a_corrupt_or_missing_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    from pruneflow.models.store import load_model

    with pytest.raises(PipelineError, match="model file missing"):
        load_model(tmp_path / "absent.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PipelineError, match="bad.keras: not a .keras model archive"):
        load_model(bad)


def test_saved_model_round_trips_without_optimizer_state(tmp_path: Path) -> None:
    from pruneflow.models.classifier import build_classifier
    from pruneflow.models.fit import compile_classifier
    from pruneflow.models.store import load_model, save_model

    model = build_classifier(ModelConfig(alpha=0.25), 2, 32)
    compile_classifier(model, 1e-3, 0.0)
    x, y = np.zeros((4, 32, 32, 3), np.float32), np.array([0, 1, 0, 1])
    model.fit(x, y, verbose=0)
    save_model(model, tmp_path / "m.keras")
    assert model.optimizer is not None  # detached only while saving
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    model.save(tmp_path / "with_optimizer.keras")  # Adam's two moments per weight: ~3x the bytes
    assert (tmp_path / "m.keras").stat().st_size < 0.5 * (tmp_path / "with_optimizer.keras").stat().st_size


def test_saves_from_a_worker_thread_stay_native_keras_zips(tmp_path: Path) -> None:
    import threading
    import zipfile

    from pruneflow.config.dense import ModelConfig
    from pruneflow.models.classifier import build_classifier
    from pruneflow.models.store import save_model

    model = build_classifier(ModelConfig(alpha=0.35), 3, 32)
    paths = [tmp_path / "first.keras", tmp_path / "second.keras"]

    def save_both() -> None:
        for path in paths:
            save_model(model, path)

    worker = threading.Thread(target=save_both)
    worker.start()
    worker.join()
    assert all(zipfile.is_zipfile(path) for path in paths)
    assert paths[0].read_bytes() == paths[1].read_bytes()
