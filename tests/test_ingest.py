"""Ingest: both sources, the stratified split, and bad data folders (one line, old outputs kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pruneflow.config.dense import DataConfig
from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.models import data as ingest
from tasks import ingest as ingest_stage
from tests.helpers import write_image_folder, write_params


def test_split_is_stratified_disjoint_and_complete() -> None:
    y = np.repeat(np.arange(3), [20, 10, 30])
    splits = ingest.split_stratified(y, 0.2, 0.1, seed=1, classes=("a", "b", "c"))
    joined = np.concatenate(list(splits.values()))
    assert sorted(joined.tolist()) == list(range(len(y)))
    for name, idx in splits.items():
        assert set(y[idx]) == {0, 1, 2}, name
    assert np.bincount(y[splits["val"]]).tolist() == [4, 2, 6]
    assert np.bincount(y[splits["test"]]).tolist() == [2, 1, 3]


def test_split_is_reproducible_for_a_seed_and_differs_across_seeds() -> None:
    y = np.repeat(np.arange(2), 50)
    a = ingest.split_stratified(y, 0.2, 0.2, seed=3, classes=("a", "b"))
    b = ingest.split_stratified(y, 0.2, 0.2, seed=3, classes=("a", "b"))
    c = ingest.split_stratified(y, 0.2, 0.2, seed=4, classes=("a", "b"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])


def test_split_rejects_a_class_too_small_for_three_splits() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    with pytest.raises(PipelineError, match="class 'b' has 2 image"):
        ingest.split_stratified(y, 0.2, 0.2, seed=0, classes=("a", "b"))


def test_cap_per_class_keeps_at_most_n_of_each_class() -> None:
    data = ingest.Dataset(np.zeros((30, 4, 4, 3), np.uint8), np.repeat(np.arange(3), 10), ("a", "b", "c"))
    capped = ingest.cap_per_class(data, 4, seed=0)
    assert np.bincount(capped.y).tolist() == [4, 4, 4]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_to_rgb_turns_any_mode_into_uint8_rgb_of_the_requested_size(mode: str) -> None:
    image = Image.new("RGB", (50, 30), (200, 10, 10)).convert(mode)
    array = ingest.to_rgb(image, 32)
    assert array.shape == (32, 32, 3) and array.dtype == np.uint8


def test_mnist5k_source_is_5000_real_digits_500_per_class() -> None:
    data = ingest.load_mnist5k(32)
    assert data.x.shape == (5000, 32, 32, 3)
    assert np.bincount(data.y).tolist() == [500] * 10
    assert data.classes == tuple("0123456789")
    # real digits: dark background, bright strokes, and grey channels (R == G == B)
    assert data.x[:, 0, 0].max() < 30 and data.x.max() > 200
    assert np.array_equal(data.x[..., 0], data.x[..., 2])


def test_folder_source_reads_class_subfolders_in_sorted_order(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "masks", {"without_mask": 5, "with_mask": 4})
    (root / "with_mask" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    Image.new("RGBA", (20, 20)).save(root / "with_mask" / "alpha.PNG")  # upper-case suffix, RGBA
    data, skipped = ingest.load_folder(root, 32)
    assert data.classes == ("with_mask", "without_mask")
    assert np.bincount(data.y).tolist() == [5, 5]
    assert data.x.shape == (10, 32, 32, 3)
    assert skipped == (ingest.Skipped(str(root / "with_mask" / "notes.txt"), "not_an_image"),)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("missing", "not a directory"),
        ("empty", "found 0 class sub-folder(s); need at least 2"),
        ("one_class", "found 1 class sub-folder(s)"),
        ("class_without_images", "class folder has no readable image"),
        ("class_of_corrupt_images", "class folder has no readable image"),
    ],
)
def test_bad_folders_raise_one_line_naming_the_path(tmp_path: Path, layout: str, expected: str) -> None:
    root = tmp_path / "data"
    if layout != "missing":
        root.mkdir()
    if layout == "one_class":
        write_image_folder(root, {"a": 3})
    if layout == "class_without_images":
        write_image_folder(root, {"a": 3})
        (root / "b").mkdir()
        (root / "b" / "readme.txt").write_text("x")
    if layout == "class_of_corrupt_images":
        write_image_folder(root, {"a": 3})
        (root / "b").mkdir()
        (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(PipelineError) as info:
        ingest.load_folder(root, 32)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
    assert str(root) in str(info.value)


def test_run_writes_splits_and_a_failed_rerun_leaves_them_untouched(in_tmp: Path) -> None:
    write_image_folder(in_tmp / "data" / "raw" / "faces", {"with_mask": 6, "without_mask": 6})
    params = write_params(in_tmp, {"data": {"source": "folder", "folder": "data/raw/faces", "samples_per_class": None}})
    cfg = load_config(params)
    ingest_stage.run(cfg)
    before = {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()}
    assert set(before) == {"train.npz", "val.npz", "test.npz", "classes.json"}
    x, y = ingest.load_split(cfg.paths.prepared, "test")
    assert x.shape[1:] == (32, 32, 3) and set(y.tolist()) == {0, 1}

    (in_tmp / "data" / "raw" / "faces" / "broken").mkdir()
    (in_tmp / "data" / "raw" / "faces" / "broken" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(PipelineError, match="broken: class folder has no readable image"):
        ingest_stage.run(cfg)
    after = {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()}
    assert after == before
    assert not any(p.name.startswith(".") for p in cfg.paths.prepared.parent.iterdir())


def test_ingest_twice_writes_byte_identical_splits(in_tmp: Path) -> None:
    cfg = load_config(write_params(in_tmp))
    ingest_stage.run(cfg)
    first = {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()}
    ingest_stage.run(cfg)
    assert {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()} == first


def test_a_failure_while_writing_splits_keeps_the_previous_ones(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write_params(in_tmp))
    ingest_stage.run(cfg)
    before = {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()}
    calls = []

    def fail_on_second(target, **arrays):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_save(target, **arrays)

    real_save = ingest_stage.save_npz
    monkeypatch.setattr(ingest_stage, "save_npz", fail_on_second)
    with pytest.raises(PipelineError, match=r"data/prepared: cannot write \(No space left on device\)"):
        ingest_stage.run(cfg)
    assert len(calls) == 2  # failed half-way through writing the new splits
    assert {p.name: p.read_bytes() for p in cfg.paths.prepared.iterdir()} == before
    assert sorted(p.name for p in cfg.paths.prepared.parent.iterdir()) == ["prepared"]


def test_missing_prepared_split_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"train.npz: missing or unreadable .* run `python -m pruneflow ingest`"):
        ingest.load_split(tmp_path, "train")


def test_data_config_defaults_point_at_the_embedded_dataset() -> None:
    assert DataConfig().source == "mnist5k"
