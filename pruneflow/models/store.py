"""Saving and loading a classifier: an atomic save without optimizer state into a `.keras` archive
whose bytes depend only on the model (fixed save date and zip times), and a load in Keras safe mode
after vetting the file's config.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

from pruneflow.artifacts.files import atomic_path
from pruneflow.errors import PipelineError
from pruneflow.models.vetting import unsafe_content
from pruneflow.tf_env import keras


def save_model(model: keras.Model, path: Path) -> None:
    """Save without optimizer state (sizes then compare weights, not Adam moments), atomically."""
    # The native .keras format has no include_optimizer switch: detach the optimizer while saving.
    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with atomic_path(path) as tmp:
            # save_format explicit: tf_keras leaves its "native format" switch off in any thread but
            # the importing one after a first save there, and the next save silently wrote HDF5
            # under a .keras name (seen in the Prefect flow's sweep worker thread).
            model.save(tmp, save_format="keras_v3")
            canonical_keras_zip(tmp)
    finally:
        model.optimizer = optimizer


def canonical_keras_zip(path: Path) -> None:
    """Rewrite a `.keras` archive so the same model always gives the same bytes.

    Keras stamps the save time twice: `date_saved` in metadata.json and the zip entries' times.
    Both are fixed here (the weights and config are already deterministic), so a rerun that trains
    the same weights writes the same file: DVC sees no change and gzip sizes cannot move by a byte.
    """
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = FIXED_SAVE_DATE
                data = json.dumps(metadata).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            dst.writestr(fixed, data)


def vet_keras_file(path: Path) -> None:
    """Check a model file before Keras opens it: a native `.keras` zip whose config passes
    `pruneflow.models.vetting` (no Lambda; TFOpLambda only for safe arithmetic). HDF5 (`.h5`) model files are
    refused here: Keras ignores safe mode for them (a user's `.h5` is vetted and converted by adoption).

    Raises:
        PipelineError: naming the file and what is allowed.
    """
    allowed = "allowed: a .keras file written by pruneflow (layers by class name, no Lambda)"
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("config.json").decode()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise PipelineError(f"{path}: not a .keras model archive ({type(exc).__name__}); {allowed}") from None
    problem = unsafe_content(text)
    if problem:
        raise PipelineError(f"{path}: refusing to load: {problem}; {allowed}")


# In place of the save time: the content, not the clock, identifies a model file.
FIXED_SAVE_DATE = "1980-01-01@00:00:00"


def application_layers() -> dict[str, type]:
    """keras.applications' own layers that tf_keras does not register for loading (ConvNeXt's
    LayerScale and StochasticDepth): a saved ConvNeXt loads only when they are named."""
    import sys

    convnext = sys.modules[keras.applications.ConvNeXtTiny.__module__]
    return {"LayerScale": convnext.LayerScale, "StochasticDepth": convnext.StochasticDepth}


def load_model(path: Path, custom_scope=None) -> keras.Model:
    """Load a saved classifier without compiling, in Keras safe mode, after vetting its config.

    Raises:
        PipelineError: the file is missing, not a `.keras` archive, holds executable layers
            (Lambda), or does not deserialize.
    """
    if not path.is_file():
        raise PipelineError(f"{path}: model file missing; run the stage that writes it first")
    vet_keras_file(path)
    try:
        with custom_scope() if custom_scope else contextlib.nullcontext():
            return keras.models.load_model(path, compile=False, safe_mode=True, custom_objects=application_layers())
    except Exception as exc:  # zip, h5 and deserialization errors have no common base class
        first = (str(exc).splitlines() or [""])[0][:200]
        raise PipelineError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {first})") from None
