"""File helpers shared by every stage: atomic writes, reproducible gzip, content digests.

A crash (or a bad input found half-way) must never leave a half-written artifact where a good one
stood: everything is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.errors import PipelineError

TMP_MARK = ".pruneflow-tmp-"  # in every temporary name: .gitignore/.dvcignore skip them, reruns sweep them
# The errors that mean "this output cannot be written here": reported in one line, never retried.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}

# Inside `stage_commit()`: the renames that publish this stage's outputs, run together at its end.
_pending: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar("_pending", default=None)
# Temporary folders being filled: a write inside one is part of that folder and publishes at once.
_open_dirs: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("_open_dirs", default=())


def write_error(target: Path, exc: BaseException) -> PipelineError | None:
    """The one-line error for a failed write (disk full, read-only folder), or None for other errors
    and for files inside a temporary folder being filled (that folder's own error names the output)."""
    if any(folder in target.parents for folder in _open_dirs.get()):
        return None
    code = getattr(exc, "errno", None)
    if code in _NO_SPACE:
        hint = "free space on that disk (or raise the file size limit)"
    elif code in _NOT_WRITABLE:
        hint = f"make {target.parent} writable or point paths.* elsewhere"
    else:
        return None
    return PipelineError(f"{target}: cannot write ({os.strerror(code)}); {hint}; the previous {target.name}, "
                         "if any, is unchanged")


def _sweep_leftovers(target: Path) -> None:
    """Remove temporaries a killed run left beside `target`; bring back a folder killed mid-swap."""
    old = target.parent / f".{target.name}.old"
    if old.is_dir() and not target.exists():
        os.replace(old, target)  # killed between the two renames of the swap: the old folder was whole
    with contextlib.suppress(OSError):
        for stale in target.parent.glob(f".{glob.escape(target.name)}{TMP_MARK}*"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


def _publish(commit: Callable[[], None], target: Path) -> None:
    """Run `commit` now, or at the end of the enclosing `stage_commit()` (unless `target` lies in a
    temporary folder being filled, whose own commit publishes it)."""
    pending = _pending.get()
    if pending is None or any(folder in target.parents for folder in _open_dirs.get()):
        commit()
    else:
        pending.append(commit)


@contextlib.contextmanager
def stage_commit() -> Iterator[None]:
    """Publish every output written inside together, after the last one is complete.

    A stage writes each output to a temporary file; the renames onto the real names wait until the
    stage returns, so a crash or a kill before that leaves all the previous outputs as they were,
    never a mix of new and old. (The renames themselves take microseconds; a kill between two of them
    leaves whole files that no longer match dvc.lock, and `dvc repro` reruns the stage.)
    """
    if _pending.get() is not None:  # nested: the outer commit publishes
        yield
        return
    pending: list[Callable[[], None]] = []
    token = _pending.set(pending)
    try:
        yield
    except BaseException:
        _pending.reset(token)
        for commit in pending:
            commit.discard()  # type: ignore[attr-defined]
        raise
    _pending.reset(token)
    for commit in pending:
        commit()


class _Commit:
    """A deferred rename (or folder swap) with a way to drop its temporary instead."""

    def __init__(self, publish: Callable[[], None], tmp: Path) -> None:
        self.publish, self.tmp = publish, tmp

    def __call__(self) -> None:
        self.publish()

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True) if self.tmp.is_dir() else self.tmp.unlink(missing_ok=True)


def _abandon(commit: _Commit, target: Path, exc: BaseException) -> None:
    """Drop the temporary of a failed write; a disk-full or permission failure becomes one line."""
    commit.discard()
    error = write_error(target, exc) if isinstance(exc, Exception) else None
    if error is not None:
        raise error from None


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(target, exc) or exc from None


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it onto `target` on success.

    Raises:
        PipelineError: the folder is read-only or the disk is full (nothing is left behind).
    """
    _make_parent(target)
    _sweep_leftovers(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}{TMP_MARK}", suffix=target.suffix, dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) or exc from None
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as Keras refuse to overwrite; they get a fresh name
    commit = _Commit(lambda: os.replace(tmp, target), tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise PipelineError(f"{target}: the writer produced no file")
    except BaseException as exc:
        _abandon(commit, target, exc)
        raise
    _publish(commit, target)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces `target` as a whole.

    Raises:
        PipelineError: the folder is read-only or the disk is full (nothing is left behind).
    """
    _make_parent(target)
    _sweep_leftovers(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}", dir=target.parent))
    except OSError as exc:
        raise write_error(target, exc) or exc from None
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private (0700); the published folder gets the usual mode
    old = target.parent / f".{target.name}.old"

    def swap() -> None:
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)

    commit = _Commit(swap, tmp)
    token = _open_dirs.set((*_open_dirs.get(), tmp))
    try:
        yield tmp
    except BaseException as exc:
        _abandon(commit, target, exc)
        raise
    finally:
        _open_dirs.reset(token)
    _publish(commit, target)


def write_bytes(target: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def read_json(path: Path) -> Any:
    """The JSON data in `path`."""
    return json.loads(Path(path).read_text())


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
