"""Stage 6 — export: deployable files for the dense and the pruned (stripped) model.

For each of `dense` and `pruned`: the Keras file and its gzip, then one TFLite flatbuffer (and its
gzip) per format in `export.formats`:

- float: float32, dense encoding (`<name>.tflite`);
- dynamic_range: int8 weights, float activations (`Optimize.DEFAULT`, no calibration data);
- int8: full-integer weights and activations, calibrated on `quantize.representative_samples` train
  images; it takes the camera's uint8 pixels directly (the model's first layer rescales them);
- sparse: float32 with sparse tensors (`Optimize.EXPERIMENTAL_SPARSITY`: DENSIFY ops + CSR-like
  encoding), the only raw format in which pruning's zeros stop taking 32 bits each;
- sparse_int8: both.

Sparse weights pay off compressed or sparse-encoded: zeros still take 32 bits each in a dense file,
but a run of zeros gzips to almost nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tasks.config import Config
from tasks.ingest import load_split
from tasks.io import atomic_dir, gzip_bytes
from tasks.model import load_model
from tasks.tf_env import keras, tf

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
    then the PQAT model's formats when `quantize.pqat` is on (the one home of this listing)."""
    files = {
        f"{name}.{fmt}": exported(cfg.paths.export, name, tflite_kind(fmt))
        for name in model_files(cfg)
        for fmt in cfg.export.formats
    }
    if cfg.quantize.pqat:
        files.update({f"pruned_pqat.{fmt}": exported(cfg.paths.pqat, "pruned_pqat", tflite_kind(fmt))
                      for fmt in PQAT_FORMATS})
    return files


# PQAT's fake-quant nodes make the converter write int8; the sparse twin keeps its zeros encoded.
PQAT_FORMATS = ("int8", "sparse_int8")


def representative_data(images: np.ndarray, count: int) -> Representative:
    """Calibration batches for int8: `count` train images spread evenly over the split, one per batch."""
    picks = np.linspace(0, len(images) - 1, num=min(count, len(images))).round().astype(int)

    def batches() -> Iterator[list[np.ndarray]]:
        for i in picks:
            yield [images[i : i + 1].astype(np.float32)]

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
    return converter.convert()


def write_tflite(out: Path, name: str, fmt: str, flatbuffer: bytes) -> None:
    """Write `<name>.<kind>` and its gzip into `out`."""
    exported(out, name, tflite_kind(fmt)).write_bytes(flatbuffer)
    exported(out, name, f"{tflite_kind(fmt)}.gz").write_bytes(gzip_bytes(flatbuffer))


def export_files(
    name: str, keras_file: Path, model: keras.Model, out: Path,
    formats: tuple[str, ...] = ("float",), representative: Representative | None = None,
) -> None:
    """Write `<name>.keras`, `<name>.keras.gz` and each TFLite format (and its gzip) into `out`."""
    shutil.copyfile(keras_file, exported(out, name, "keras"))
    exported(out, name, "keras.gz").write_bytes(gzip_bytes(keras_file.read_bytes()))
    for fmt in formats:
        write_tflite(out, name, fmt, to_tflite(model, fmt, representative))


def run(cfg: Config) -> None:
    """Edge: export both models into `paths.export`, replacing the directory as a whole."""
    images, _ = load_split(cfg.paths.prepared, "train")
    representative = representative_data(images, cfg.quantize.representative_samples)
    with atomic_dir(cfg.paths.export) as out:
        for name, path in model_files(cfg).items():
            export_files(name, path, load_model(path), out, cfg.export.formats, representative)
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}  # published when the stage ends
    print(f"export: {sizes}")
