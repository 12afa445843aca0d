"""File helpers shared by every stage: atomic writes, reproducible gzip, content digests.

A crash (or a bad input found half-way) must never leave a half-written artifact where a good one
stood: everything is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it onto `target` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as Keras refuse to overwrite; they get a fresh name
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces `target` as a whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = target.parent / f".{target.name}.old"
    try:
        yield tmp
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(target: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json(target: Path, payload: Any) -> None:
    """Write pretty, key-sorted JSON atomically (stable diffs in pull requests)."""
    write_bytes(target, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def save_npz(target: Path, **arrays: np.ndarray) -> None:
    """Like `np.savez_compressed`, but byte-identical for equal arrays (no zip timestamps).

    DVC hashes outputs by content: a fresh timestamp would make unchanged data look new and
    retrain everything downstream.
    """
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue())


def write_csv(target: Path, rows: list[dict[str, Any]]) -> None:
    """Write dict rows (keys of the first row as header) as CSV, atomically."""
    with atomic_path(target) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def gzip_bytes(data: bytes) -> bytes:
    """Gzip at level 9 with no name and mtime 0, so equal input gives equal bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def gzip_size(path: Path) -> int:
    """Size in bytes of the file once gzipped (level 9), the usual proxy for download size."""
    return len(gzip_bytes(path.read_bytes()))


def digest(path: Path) -> str:
    """sha256 of a file, or of a directory's relative names and file contents in sorted order."""
    h = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(child.relative_to(path).as_posix().encode() + b"\0")
            h.update(digest(child).encode())
    else:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
