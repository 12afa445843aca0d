"""Adopting a classifier trained elsewhere (`model.file`) as the dense baseline (stage train_dense).

The file may be a tf_keras `.keras` archive, an HDF5 `.h5` file or a SavedModel folder, with the
base nested under a head or flat. Decisions, each checked here with a one-line error:

- **Safe to open.** Its config is read as text first and vetted (`pruneflow.models.vetting`: no Lambda,
  TFOpLambda only for safe arithmetic), and a Keras 3 file gets
  the way to make a tf_keras one. Nothing is executed before that.
- **A single-input image classifier.** One input of shape (H, W, 3); one output of shape (classes,),
  from a final softmax (probabilities) or a linear layer (logits, then a `pruneflow_probabilities`
  Softmax is appended, so every stage sees probabilities).
- **Input size.** A fixed (H, W) must be square and equal `data.image_size` (the error says which
  value to set); an open (None, None) input is fixed to `data.image_size`.
- **Classes.** The output width must equal the number of class folders.
- **Preprocessing lives in the model.** The pipeline feeds raw 0-255 RGB. A model that scales its
  input itself (Rescaling, Normalization, keras.applications' `include_preprocessing`) takes
  `model.preprocess: none`; otherwise `unit` or `symmetric` puts a `pruneflow_scale` Rescaling in
  front, so exported TFLite files take raw pixels too.
- **Flat.** Nested models are inlined (`pruneflow.models.flatten`): tfmot, the channel pruner and the MACs
  counter then see every layer.

`model.adopt`: `keep` makes the checked model the dense baseline as it is (scored, not trained);
`fine_tune` trains it first with the `train` recipe.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from pruneflow.errors import PipelineError
from pruneflow.models.vetting import SAFE_TF_OPS, unsafe_content
from pruneflow.tf_env import keras

TF_KERAS = ("save it from tf_keras (Keras 2): set TF_USE_LEGACY_KERAS=1 before importing TensorFlow, or "
            "`import tf_keras as keras`, build or load the model there and call model.save('model.keras')")


def _fail(path: Path, problem: str, fix: str) -> PipelineError:
    return PipelineError(f"model.file={path}: {problem}; {fix}")


def _config_text(path: Path) -> tuple[str, str | None]:
    """The model's serialized config (as text) and the Keras version that wrote it, without loading it."""
    if path.is_dir():
        meta = path / "keras_metadata.pb"
        if not (path / "saved_model.pb").is_file():
            raise _fail(path, "a folder without saved_model.pb is not a SavedModel",
                        "allowed: a .keras file, a .h5 file or a SavedModel folder")
        if not meta.is_file():
            raise _fail(path, "a SavedModel without Keras metadata (written by tf.saved_model.save or Keras 3's "
                              "export, not by a tf_keras model)", TF_KERAS)
        text = meta.read_bytes().decode("utf-8", "replace")
        version = re.search(r'"keras_version":\s*"([^"]+)"', text)
        return text, version.group(1) if version else None
    head = path.read_bytes()[:8]
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json").decode()
                meta = json.loads(archive.read("metadata.json")) if "metadata.json" in archive.namelist() else {}
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise _fail(path, f"a zip but not a Keras model archive ({type(exc).__name__})",
                        "allowed: a .keras file, a .h5 file or a SavedModel folder") from None
        return text, meta.get("keras_version")
    if head.startswith(b"\x89HDF"):
        import h5py

        with h5py.File(path, "r") as h5:
            if "model_config" not in h5.attrs:
                raise _fail(path, "an HDF5 file with weights only, no model config",
                            "save the whole model (model.save('model.h5')), not save_weights")
            text = h5.attrs["model_config"]
            version = h5.attrs.get("keras_version")
        text = text.decode() if isinstance(text, bytes) else str(text)
        return text, version.decode() if isinstance(version, bytes) else version
    raise _fail(path, "not a model file (neither a .keras zip, HDF5 nor a SavedModel folder)",
                "allowed: a .keras file, a .h5 file or a SavedModel folder trained with tf_keras")


def vet_config(path: Path, text: str) -> None:
    """Refuse what `pruneflow.models.vetting` calls unsafe (Lambda; TFOpLambda beyond safe arithmetic)."""
    problem = unsafe_content(text)
    if problem:
        fix = ("replace each Lambda with a built-in layer or a registered custom layer and save again"
               if "Lambda layers" in problem else f"allowed ops: {', '.join(sorted(SAFE_TF_OPS))}")
        raise _fail(path, problem, fix)


def read_model_file(path: Path) -> keras.Model:
    """Open a user's classifier after vetting its config (see the module docstring).

    Raises:
        PipelineError: missing, not a model, Keras 3, Lambda or unsafe ops, or not loadable.
    """
    if not path.exists():
        raise _fail(path, "no such file or folder", "allowed: a .keras file, a .h5 file or a SavedModel folder "
                                                     "(put it under models/own/)")
    text, version = _config_text(path)
    if version and str(version).split(".")[0] == "3":
        raise _fail(path, f"saved by Keras {version}; pruneflow (tfmot) needs tf_keras", TF_KERAS)
    vet_config(path, text)
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True) if path.suffix == ".keras" \
            else keras.models.load_model(path, compile=False)
    except Exception as exc:  # zip, h5 and deserialization errors have no common base class
        first = (str(exc).splitlines() or [""])[0][:160]
        raise _fail(path, f"not loadable ({type(exc).__name__}: {first})",
                    "custom layers must be registered with keras.saving.register_keras_serializable") from None


def output_kind(model: keras.Model, path: Path, classes: list[str]) -> str:
    """`probabilities` or `logits`, after checking the one input and the one (classes,) output.

    Raises:
        PipelineError: several inputs/outputs, not an RGB image input, or not a class output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise _fail(path, f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs",
                    "allowed: one image input and one class output (save the classification head alone)")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise _fail(path, f"input shape {shape[1:]} is not an RGB image (H, W, 3)",
                    "allowed: a channels-last RGB input; grayscale data is fed as 3 channels")
    out = tuple(model.outputs[0].shape)
    if len(out) != 2:
        raise _fail(path, f"output shape {out[1:]} is not one score per class",
                    f"allowed: an output of shape ({len(classes)},): class probabilities or logits")
    if out[-1] != len(classes):
        raise _fail(path, f"outputs {out[-1]} classes but the data has {len(classes)} class folders "
                          f"({', '.join(classes[:6])}{', …' if len(classes) > 6 else ''})",
                    f"give it a {len(classes)}-unit head, or point data at the folders it was trained on")
    last = model.get_layer(model.outputs[0].node.layer.name) if hasattr(model.outputs[0], "node") else model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if isinstance(last, keras.layers.Softmax) or activation == "softmax":
        return "probabilities"
    if activation == "linear":
        return "logits"
    raise _fail(path, f"its output layer {last.name!r} ({type(last).__name__}, activation {activation}) gives "
                      "neither class probabilities nor logits",
                "allowed: a final softmax, or a linear Dense (logits)")


def input_side(model: keras.Model, path: Path, image_size: int) -> int:
    """The square side the adopted model runs at: its own, which must equal `data.image_size`."""
    height, width = tuple(model.inputs[0].shape)[1:3]
    if height is None and width is None:
        return image_size
    if height != width or height is None or width is None:
        raise _fail(path, f"input {height}x{width} is not square", "allowed: a square or open (None, None) input")
    if height != image_size:
        raise _fail(path, f"takes {height}x{width} images but data.image_size is {image_size}",
                    f"set data.image_size: {height}")
    return height


def adopted(model: keras.Model, path: Path, image_size: int, classes: list[str], preprocess: str) -> keras.Model:
    """The checked model as the pipeline's dense classifier: flat, fixed square input of the data's side,
    preprocessing in front when asked, probabilities out."""
    from pruneflow.models.flatten import flatten_model

    kind = output_kind(model, path, classes)
    side = input_side(model, path, image_size)
    inputs = keras.Input((side, side, 3), name="pruneflow_input")
    x = inputs
    if preprocess == "unit":
        x = keras.layers.Rescaling(1.0 / 255.0, name="pruneflow_scale")(x)
    elif preprocess == "symmetric":
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="pruneflow_scale")(x)
    y = model(x)
    if kind == "logits":
        y = keras.layers.Softmax(name="pruneflow_probabilities")(y)
    return flatten_model(keras.Model(inputs, y, name=model.name))


def score(model: keras.Model, split: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Loss and accuracy of a compiled classifier on a split."""
    loss, accuracy = model.evaluate(split[0].astype(np.float32), split[1], batch_size=64, verbose=0)
    return float(loss), float(accuracy)
