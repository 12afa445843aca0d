"""Bad files in data.folder are skipped and counted by reason (the run succeeds), and an image in any
colour mode is read as RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pruneflow.__main__ import main
from pruneflow.config.params import load_config
from tests.helpers_bad_input import bomb_png, ingested_workspace


@pytest.fixture
def workspace(in_tmp: Path) -> Path:
    """The tiny ingested folder dataset, with stand-ins for later stages' models (`ingested_workspace`)."""
    return ingested_workspace(in_tmp)


# Skipped and reported: the run succeeds; classes.json lists each file and metrics.json counts them.
def test_bad_files_are_skipped_and_counted_by_reason(workspace: Path) -> None:
    raw = workspace / "data" / "raw" / "with_mask"
    (raw / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = (raw / "img_000.png").read_bytes()
    (raw / "truncated.png").write_bytes(good[: len(good) // 2])
    (raw / "notes.txt").write_text("a non-image file")
    (raw / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    bomb_png(raw / "bomb.png")
    outside = workspace / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    (raw / "escape.png").symlink_to(outside)
    inside = raw / "img_001.png"
    (raw / "alias.png").symlink_to(inside)  # a symlink inside the folder is an ordinary image

    assert main(["ingest"]) == 0
    summary = yaml.safe_load((workspace / "data" / "prepared" / "classes.json").read_text())
    assert summary["skipped_counts"] == {"not_an_image": 2, "unreadable": 2, "too_large": 1, "outside_folder": 1}
    reasons = {Path(s["file"]).name: s["reason"] for s in summary["skipped"]}
    assert reasons == {"corrupt.jpg": "unreadable", "truncated.png": "unreadable", "notes.txt": "not_an_image",
                       ".DS_Store": "not_an_image", "bomb.png": "too_large", "escape.png": "outside_folder"}
    assert sum(summary["counts"].values()) == 13  # 12 images + the in-folder alias

    from pruneflow.evaluation.variants import data_summary
    assert data_summary(summary, {}, "digest")["skipped_files"] == summary["skipped_counts"]


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1"])
def test_any_colour_mode_is_read_as_rgb(workspace: Path, mode: str) -> None:
    raw = workspace / "data" / "raw" / "with_mask"
    image = Image.fromarray(np.full((24, 24, 3), 200, np.uint8)).convert(mode)
    image.save(raw / f"mode.{'jpg' if mode == 'CMYK' else 'png'}")
    assert main(["ingest"]) == 0
    cfg = load_config("params.yaml")
    summary = yaml.safe_load((cfg.paths.prepared / "classes.json").read_text())
    assert sum(summary["counts"].values()) == 13 and not summary["skipped"]

