"""TFLite: convert a Keras model to each deployable format and export the files.

Formats, for each of the dense and the pruned (stripped) model (`export.formats`):


- float: float32, dense encoding (`<name>.tflite`);
- dynamic_range: int8 weights, float activations (`Optimize.DEFAULT`, no calibration data);
- int8: full-integer weights and activations, calibrated on `quantize.representative_samples` train
  images; it takes the camera's uint8 pixels directly (the model's first layer rescales them);
- sparse: float32 with sparse tensors (`Optimize.EXPERIMENTAL_SPARSITY`: DENSIFY ops + CSR-like
  encoding), the only raw format in which pruning's zeros stop taking 32 bits each;
- sparse_int8: both.

Sparse weights pay off compressed or sparse-encoded: zeros still take 32 bits each in a dense file,
but a run of zeros gzips to almost nothing.

Numbers about a deployable file are measured on the file itself: its weights' zeros are counted in
the flatbuffer (after quantization and sparse encoding, exactly what ships), and it is run with
ai-edge-litert, the runtime a phone would use.

Counting a file's weights lives in `pruneflow.deploy.tflite_weights`, running one in
`pruneflow.deploy.tflite_runner`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.artifacts.files import gzip_bytes
from pruneflow.artifacts.phases import phase
from pruneflow.artifacts.points import NOT_APPLICABLE_FILE
from pruneflow.config.params import Config
from pruneflow.deploy.int8_fold import fold_constant_channels
from pruneflow.tf_env import keras, tf

Representative = Callable[[], Iterator[list[np.ndarray]]]


def model_files(cfg: Config) -> dict[str, Path]:
    """The Keras model behind each exported variant: the dense baseline and the stripped pruned model."""
    return {"dense": cfg.paths.dense_model, "pruned": cfg.paths.stripped_model}


def tflite_kind(fmt: str) -> str:
    """File kind of a TFLite format: `tflite` for float (the baseline), `<fmt>.tflite` otherwise."""
    return "tflite" if fmt == "float" else f"{fmt}.tflite"


def exported(export_dir: Path, name: str, kind: str) -> Path:
    """Path of an exported file; kind is keras, keras.gz, tflite, tflite.gz, or `<format>.tflite[.gz]`."""
    return export_dir / f"{name}.{kind}"


def deployables(cfg: Config) -> dict[str, Path]:
    """Every TFLite file a run produces, keyed `<model>.<format>`: dense and pruned per export format,
    then the PQAT model's formats when `quantize.pqat` is on and tfmot could apply it (the one home of
    this listing)."""
    files = {
        f"{name}.{fmt}": exported(cfg.paths.export, name, tflite_kind(fmt))
        for name in model_files(cfg)
        for fmt in cfg.export.formats
    }
    if cfg.quantize.pqat and not (cfg.paths.pqat / NOT_APPLICABLE_FILE).exists():
        files.update({f"pruned_pqat.{fmt}": exported(cfg.paths.pqat, "pruned_pqat", tflite_kind(fmt))
                      for fmt in PQAT_FORMATS})
    return files


# PQAT's fake-quant nodes make the converter write int8; the sparse twin keeps its zeros encoded.
PQAT_FORMATS = ("int8", "sparse_int8")


def calibration_images(images: np.ndarray, count: int) -> np.ndarray:
    """The `count` train images that calibrate int8, spread evenly over the split."""
    picks = np.linspace(0, len(images) - 1, num=min(count, len(images))).round().astype(int)
    return images[picks]


def representative_data(images: np.ndarray, count: int) -> Representative:
    """Calibration batches for int8: `count` train images spread evenly over the split, one per batch."""
    picked = calibration_images(images, count)

    def batches() -> Iterator[list[np.ndarray]]:
        for i in range(len(picked)):
            yield [picked[i : i + 1].astype(np.float32)]

    return batches


def to_tflite(model: keras.Model, fmt: str = "float", representative: Representative | None = None) -> bytes:
    """Convert to one TFLite format (see the module docstring).

    Args:
        model: a Keras model (stripped of pruning wrappers), or a quantization-aware one.
        fmt: float, dynamic_range, int8, sparse or sparse_int8.
        representative: calibration data; required for post-training int8 formats, None for a
            quantization-aware model (its fake-quant ranges are the calibration).

    Returns:
        The flatbuffer bytes.
    """
    if fmt.endswith("int8") and representative is not None:
        model = fold_constant_channels(model)  # int8 would amplify their rounding (pruneflow/deploy/int8_fold.py)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    optimizations = []
    if fmt.startswith("sparse"):
        optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    if fmt in ("dynamic_range", "int8", "sparse_int8"):
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if fmt.endswith("int8") and representative is not None:
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8  # raw pixels in: scale 1, zero point 0 on 0..255 data
    with phase("convert"):
        return converter.convert()


def write_tflite(out: Path, name: str, fmt: str, flatbuffer: bytes) -> None:
    """Write `<name>.<kind>` and its gzip into `out`."""
    exported(out, name, tflite_kind(fmt)).write_bytes(flatbuffer)
    exported(out, name, f"{tflite_kind(fmt)}.gz").write_bytes(gzip_bytes(flatbuffer))


def export_files(name: str, keras_file: Path, out: Path, formats: tuple[str, ...] = ("float",),
                 calibration: np.ndarray | None = None) -> None:
    """Write `<name>.keras`, `<name>.keras.gz` and each TFLite format (and its gzip) of the model in
    `keras_file` into `out`; int8 formats calibrate on `calibration` (see `calibration_images`)."""
    from pruneflow.models.store import load_model

    shutil.copyfile(keras_file, exported(out, name, "keras"))
    exported(out, name, "keras.gz").write_bytes(gzip_bytes(keras_file.read_bytes()))
    model = load_model(keras_file)
    representative = None if calibration is None else representative_data(calibration, len(calibration))
    for fmt in formats:
        write_tflite(out, name, fmt, to_tflite(model, fmt, representative))


def convert_file(keras_file: Path, fmt: str, calibration: np.ndarray | None = None) -> bytes:
    """`to_tflite` of the model saved in `keras_file` (a picklable job for `in_processes`)."""
    from pruneflow.models.store import load_model

    representative = None if calibration is None else representative_data(calibration, len(calibration))
    return to_tflite(load_model(keras_file), fmt, representative)


# A conversion costs by the graph's size: a MobileNet at 32 px 16–19 s, the toy architecture (about 30
# layers) about a second. A spawned converter pays TensorFlow's import again (6 s idle, 12–15 s beside
# another stage), so graphs of fewer layers than this convert in the stage's own process.
SPAWN_MIN_LAYERS = 60


def keras_layer_count(keras_file: Path) -> int:
    """How many layers the model saved in a `.keras` file has (nested models' layers included), read
    from its config without loading it."""
    import json
    import zipfile

    with zipfile.ZipFile(keras_file) as archive:
        config = json.loads(archive.read("config.json"))

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(count(value) for value in node.values()) + (1 if "class_name" in node and "name" in node else 0)
        if isinstance(node, list):
            return sum(count(value) for value in node)
        return 0

    return count(config.get("config", {}).get("layers", []))


def _small_graphs(calls: list[tuple]) -> bool:
    """Whether every call converts a `.keras` file of fewer than `SPAWN_MIN_LAYERS` layers."""
    files = [arg for args in calls for arg in args if isinstance(arg, Path) and arg.suffix == ".keras"]
    return bool(files) and all(keras_layer_count(path) < SPAWN_MIN_LAYERS for path in files)


def in_processes(function: Callable[..., Any], calls: list[tuple]) -> list[Any]:
    """`function(*args)` for every `args` of `calls`, each in a fresh process, as many at once as there
    are CPUs. A TFLite conversion is mostly single-threaded, so two models convert in about the time
    of one on two cores. Runs them here, one by one, on one CPU, in a daemonic process (a Dask
    worker), which may not start children, or when every model is a small graph (`SPAWN_MIN_LAYERS`)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(len(calls), cpus)
    with phase("convert"):  # every caller converts: export, the points, the channel benchmark
        if workers < 2 or multiprocessing.current_process().daemon or _small_graphs(calls):
            return [function(*args) for args in calls]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return [future.result() for future in [pool.submit(function, *args) for args in calls]]
