"""The report of the session's tiny build (tests/conftest.py `dvc_build`): every section and figure, the
data and params it names, figures byte-identical when rebuilt, and an HTML page that a real browser
renders with its plots, offline. (tests/test_report.py: the sentences against hand-made numbers.)"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pruneflow.report.figures import DENSE_COLOR, PRUNED_COLOR
from tests.builds import build_config, copy_build

SECTIONS = ("What was done", "Dense vs pruned", "What the numbers say", "Deployment formats", "Sparsity sweep",
            "How sure are these differences?", "Where the remaining weights are", "Accuracy per class",
            "Training and pruning curves")
FIGURES = {"sizes.png", "accuracy_latency.png", "layer_sparsity.png", "weight_histogram.png", "confusion.png",
           "training_curves.png", "pruning_schedule.png", "deployment.png", "sweep_pareto.png", "sensitivity.png"}


@pytest.fixture(scope="module")
def tiny_run(dvc_build: Path):
    """The session's build, report included (read only)."""
    return build_config(dvc_build)


@pytest.mark.slow
def test_report_of_a_tiny_run_has_every_section_and_every_figure_is_a_valid_png(tiny_run) -> None:
    p = tiny_run.paths
    md = p.report_md.read_text()
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
    assert {f.name for f in p.figures.iterdir()} == FIGURES
    for name in FIGURES:
        assert f"](figures/{name})" in md
        png = (p.figures / name).read_bytes()
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and min(image.size) >= 200
        extrema = image.convert("L").getextrema()
        assert extrema[1] - extrema[0] > 100, name  # drawn on, not a blank canvas
    # the computed sentences are in the report, with the run's own numbers
    import json

    metrics = json.loads(p.metrics.read_text())
    assert f"{metrics['pruned']['size_keras_unstripped_bytes']:,} bytes" in md
    assert f"{metrics['dense']['size_tflite_bytes']:,} bytes" in md
    html = p.report_html.read_text()
    assert html.count('src="data:image/png;base64,') == len(FIGURES)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch


@pytest.mark.slow
def test_report_names_the_data_its_size_the_chance_level_and_the_params_digest(tiny_run) -> None:
    import json

    from pruneflow.artifacts.lineage import metrics_digest

    md = tiny_run.paths.report_md.read_text()
    data = json.loads(tiny_run.paths.metrics.read_text())["data"]
    assert data["params_digest"] == metrics_digest(tiny_run)  # the digest of the params that made it
    assert "Data: the image folder data/raw, 2 classes at 32×32 px, split 220 train / 80 validation / 100 test" in md
    assert (f"always answering the majority class '{data['majority_class']['class']}' would score 50.0 % on the test "
            f"split") in md and f"made with params digest {data['params_digest']}" in md
    assert re.search(r"\| test accuracy of the majority class % +\| 50\.000 +\| 50\.000 ", md)


@pytest.mark.slow
def test_report_figures_are_byte_identical_when_rebuilt_from_the_same_artifacts(dvc_build: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pruneflow.config.params import load_config
    from tasks import report

    monkeypatch.chdir(copy_build(dvc_build, tmp_path / "copy"))
    cfg = load_config("params.yaml")
    report.run(cfg)
    p = cfg.paths
    assert {f.name: f.read_bytes() for f in p.figures.iterdir()} == {
        f.name: f.read_bytes() for f in (dvc_build / p.figures).iterdir()}
    for page in (p.report_html, p.report_md):
        assert page.read_bytes() == (dvc_build / page).read_bytes(), page


def _colour_pixels(png: Path, colour: str, tolerance: int = 12) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.abs(rgb - target).max(axis=2) <= tolerance))


@pytest.mark.slow
def test_html_report_renders_its_plots_in_headless_chromium_offline(tiny_run, tmp_path: Path) -> None:
    from tests.chromium import screenshot

    width, height = 1280, 4000
    shot = screenshot(tiny_run.paths.report_html, tmp_path / "report.png", width=width, height=height)
    image = Image.open(shot)
    assert image.size == (width, height)
    dense, pruned = _colour_pixels(shot, DENSE_COLOR), _colour_pixels(shot, PRUNED_COLOR)
    assert dense > 2000 and pruned > 2000, (dense, pruned)  # the plots' bars and lines are on screen

    # The same page with its images cut off shows neither colour: the check above sees plots, not CSS.
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r'src="data:image/png;base64,[^"]+"', 'src="missing.png"', tiny_run.paths.report_html.read_text()))
    control = screenshot(broken, tmp_path / "broken.png", width=width, height=height)
    assert _colour_pixels(control, DENSE_COLOR) < 50 and _colour_pixels(control, PRUNED_COLOR) < 50
