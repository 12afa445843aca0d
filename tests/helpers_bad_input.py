"""The bad-input tests' workspace (a tiny folder dataset, ingested, beside stand-in models) and the
broken inputs they plant: bad params, bomb images, model files that are cut short or run code."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from pruneflow.__main__ import main
from pruneflow.artifacts.files import digest
from tests.helpers import write_image_folder, write_params

FOLDER = {"data": {"source": "folder", "folder": "data/raw", "samples_per_class": None}}


def ingested_workspace(in_tmp: Path) -> Path:
    """A tiny folder dataset, ingested once (the earlier good outputs), plus stand-ins for the
    model files later stages would overwrite."""
    write_image_folder(in_tmp / "data" / "raw", {"with_mask": 6, "without_mask": 6}, size=24)
    write_params(in_tmp, FOLDER)
    assert main(["ingest"]) == 0
    (in_tmp / "models").mkdir()
    for name in ("dense.keras", "pruned_stripped.keras"):
        (in_tmp / "models" / name).write_bytes(b"earlier good model " + name.encode())
    return in_tmp


def outputs(root: Path) -> dict[str, str]:
    """Digest of every output file (everything but the raw data and the params)."""
    files = {p.relative_to(root): p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}
    return {str(rel): digest(p) for rel, p in files.items() if rel.parts[:2] != ("data", "raw") and rel.name != "params.yaml"}


def edit_params(root: Path, changes: dict) -> None:
    write_params(root, {**FOLDER, **changes} if "data" not in changes else
                 {**changes, "data": {**FOLDER["data"], **changes["data"]}})


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid 1x1 PNG whose header claims side x side pixels: a decompression bomb's signature."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 4  # signature, chunk length; then b"IHDR", width, height
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", side, side)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))


def lambda_model(path: Path, marker: Path) -> None:
    """A .keras file whose Lambda layer runs Python (here: creates `marker`) when deserialized."""
    from pruneflow.tf_env import keras

    inputs = keras.Input((4,))
    where = str(marker)
    touched = keras.layers.Lambda(lambda x: (open(where, "w").close(), x)[1])(inputs)
    keras.Model(inputs, keras.layers.Dense(2)(touched)).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not run it again


def truncated_zip() -> bytes:
    """The first half of a valid zip archive (a copy cut short)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}" + " " * 5000)
        archive.writestr("model.weights.h5", os.urandom(5000))
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def prelu_model(path: Path) -> None:
    """A classifier with a learned-slope activation (per-channel weights the pruner does not slice)."""
    from pruneflow.models.store import save_model
    from pruneflow.tf_env import keras

    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.PReLU(name="learned_slope")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    save_model(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)), path)


def wrong_shape_weights(path: Path) -> None:
    from pruneflow.tf_env import keras

    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)


def set_(path: str, text: str | bytes) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    return write


def own_model(build: Callable[[], object], name: str = "own.keras", **params) -> Callable[[Path], None]:
    """Save the tf_keras model `build()` returns as models/own/<name> and point model.file at it."""
    def setup(root: Path) -> None:
        target = root / "models" / "own" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        build().save(target)
        edit_params(root, {"model": {"file": f"models/own/{name}", **params}})
    return setup


def keras3_model(root: Path) -> None:
    """A real Keras 3 `.keras` file (Keras 3 is installed beside tf_keras), written in its own process."""
    target = root / "models" / "own" / "k3.keras"
    target.parent.mkdir(parents=True, exist_ok=True)
    code = ("import keras; m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), "
            f"keras.layers.Dense(2, activation='softmax')]); m.save({str(target)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    edit_params(root, {"model": {"file": "models/own/k3.keras"}})


def own_lambda_model(root: Path) -> None:
    (root / "models" / "own").mkdir(parents=True, exist_ok=True)
    lambda_model(root / "models" / "own" / "lam.keras", root / "lambda_ran")
    edit_params(root, {"model": {"file": "models/own/lam.keras"}})

