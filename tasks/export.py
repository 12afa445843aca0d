"""Stage 5 — export: deployable files for the dense and the pruned (stripped) model.

For each of `dense` and `pruned`: the Keras file, its gzip, a float TFLite flatbuffer and its gzip.
Sparse weights only pay off compressed: zeros still take 32 bits each in a raw file, but a run of
zeros gzips to almost nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tasks.config import Config
from tasks.io import atomic_dir, gzip_bytes
from tasks.model import load_model
from tasks.tf_env import keras, tf


def model_files(cfg: Config) -> dict[str, Path]:
    """The Keras model behind each exported variant: the dense baseline and the stripped pruned model."""
    return {"dense": cfg.paths.dense_model, "pruned": cfg.paths.stripped_model}


def to_tflite(model: keras.Model) -> bytes:
    """Float32 TFLite flatbuffer (no quantization, no sparse encoding)."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def exported(export_dir: Path, name: str, kind: str) -> Path:
    """Path of an exported file; kind is one of keras, keras.gz, tflite, tflite.gz."""
    return export_dir / f"{name}.{kind}"


def export_files(name: str, keras_file: Path, model: keras.Model, out: Path) -> None:
    """Write `<name>.keras`, `<name>.keras.gz`, `<name>.tflite`, `<name>.tflite.gz` into `out`."""
    shutil.copyfile(keras_file, exported(out, name, "keras"))
    tflite = to_tflite(model)
    exported(out, name, "tflite").write_bytes(tflite)
    exported(out, name, "keras.gz").write_bytes(gzip_bytes(keras_file.read_bytes()))
    exported(out, name, "tflite.gz").write_bytes(gzip_bytes(tflite))


def run(cfg: Config) -> None:
    """Edge: export both models into `paths.export`, replacing the directory as a whole."""
    with atomic_dir(cfg.paths.export) as out:
        for name, path in model_files(cfg).items():
            export_files(name, path, load_model(path), out)
    sizes = {p.name: p.stat().st_size for p in sorted(cfg.paths.export.iterdir())}
    print(f"export: {sizes}")
