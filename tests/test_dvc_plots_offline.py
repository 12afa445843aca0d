"""`dvc plots show` / `dvc plots diff` with this repo's .dvc/config render in chromium with no network."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc_render.base import Renderer
from dvc_render.html import PAGE_HTML
from PIL import Image, ImageChops

from tests.builds import copy_build
from tests.chromium import dump_dom, screenshot
from tests.helpers import REPO

pytestmark = pytest.mark.slow

TEMPLATE = REPO / "vendor" / "vega" / "offline_plots.html"
SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE)
# What a browser would fetch on load: src/href/... attributes, CSS url() and @import of a remote URL.
# Plain strings such as vega-lite's "$schema" id or the SVG namespace are never requested.
FETCHABLE = re.compile(
    r"""(?:\b(?:src|href|action|poster|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(?:https?:)?//""",
    re.IGNORECASE,
)
def _run(cmd: list[str], cwd: Path) -> str:
    """Run a command with the venv's bin first on PATH; return stdout, raise with its output on failure."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="module")
def pages(dvc_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The project's own plots (its generated dvc.yaml, on a copy of the session's build) with this
    repo's .dvc/config, a changed training curve in the workspace, and three rendered pages."""
    root = copy_build(dvc_build, tmp_path_factory.mktemp("plots") / "repo")
    # The shipped config and template, at the same relative place: proves `plots.html_template`
    # resolves (a wrong path makes DVC use the path string as the template and fail on {plot_divs}).
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    (root / TEMPLATE.relative_to(REPO)).parent.mkdir(parents=True)
    shutil.copy(TEMPLATE, root / TEMPLATE.relative_to(REPO))
    curve = root / "reports" / "train_dense.csv"
    lines = curve.read_text().splitlines()
    curve.write_text("\n".join(lines[:-1]) + "\n")  # the workspace now differs from HEAD

    cdn_template = root / "cdn_page.html"  # DVC's default page: <script src> from cdn.jsdelivr.net
    cdn_template.write_text(PAGE_HTML)
    dvc = [sys.executable, "-m", "dvc", "plots"]
    _run([*dvc, "show"], root)  # default output: dvc_plots/index.html, as `make plots` promises
    _run([*dvc, "diff", "HEAD", "-o", "diff_plots"], root)
    _run([*dvc, "show", "--html-template", str(cdn_template), "-o", "cdn_plots"], root)
    # the training and pruning curves alone (no PNG figure on the page): colour there is vega's
    charts = ["reports/train_dense.csv", "reports/prune_epochs.csv", "reports/prune_steps.csv"]
    _run([*dvc, "show", *charts, "-o", "chart_plots"], root)
    _run([*dvc, "show", *charts, "--html-template", str(cdn_template), "-o", "cdn_chart_plots"], root)
    outs = {"show": "dvc_plots", "diff": "diff_plots", "cdn": "cdn_plots", "charts": "chart_plots",
            "cdn_charts": "cdn_chart_plots"}
    pages = {name: root / out / "index.html" for name, out in outs.items()}
    # DVC's own list of the project's plots: which are vega charts (the rest are the report's PNGs)
    declared = json.loads(_run([*dvc, "show", "--json"], root))["data"]
    pages["vega"] = {Renderer.remove_special_chars(name) for name, entries in declared.items()
                     if entries and entries[0].get("type") == "vega"}
    return pages


def _rendered_vega(dom: str) -> dict[str, tuple[int, int]]:
    """Map each vega-embed container id to the (width, height) of the vega canvas/svg drawn in it."""
    found = {}
    for match in re.finditer(r'<div id="([^"]+)" class="vega-embed[^"]*">', dom):
        rest = dom[match.end():]
        end = rest.find("</details>")  # vega-embed's actions menu closes a container it finished
        marks = re.search(r'<(?:canvas|svg)\b[^>]*class="marks"[^>]*>', rest[: max(end, 0)])
        if marks:
            size = [re.search(rf'\b{a}="(\d+)', marks.group()) for a in ("width", "height")]
            found[match.group(1)] = (int(size[0].group(1)), int(size[1].group(1)))
    return found


def _pixels(png: Path) -> tuple[int, int]:
    """Count (non-white, coloured) pixels; on the chart pages only vega draws colour, text is grey."""
    r, g, b = Image.open(png).convert("RGB").split()
    low = ImageChops.darker(ImageChops.darker(r, g), b)
    spread = ImageChops.subtract(ImageChops.lighter(ImageChops.lighter(r, g), b), low)
    return sum(low.histogram()[:240]), sum(spread.histogram()[41:])


def test_vendored_template_is_rebuilt_byte_for_byte_from_the_bundles(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_template", TEMPLATE.parent / "build_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(tmp_path / "page.html").read_bytes() == TEMPLATE.read_bytes()


@pytest.mark.parametrize("name", ["show", "diff"])
def test_plot_pages_load_no_script_and_no_url_from_the_network(pages: dict[str, Path], name: str) -> None:
    html = pages[name].read_text(encoding="utf-8")
    assert "{plot_divs}" not in html and "{scripts}" not in html
    assert SCRIPT_SRC.search(html) is None
    assert FETCHABLE.search(html) is None, FETCHABLE.search(html)
    cdn = pages["cdn"].read_text(encoding="utf-8")
    assert SCRIPT_SRC.search(cdn) and FETCHABLE.search(cdn)  # the checks do catch DVC's default page


@pytest.mark.parametrize("name", ["show", "diff"])
def test_every_vega_plot_renders_offline(pages: dict[str, Path], name: str) -> None:
    rendered = _rendered_vega(dump_dom(pages[name]))
    assert len(pages["vega"]) >= 8 and set(rendered) == pages["vega"], rendered  # every chart the project declares
    # A spec without data still gets a canvas, of 0x0 px; ours measured 443x364 and 384x409 px.
    assert all(width > 200 and height > 200 for width, height in rendered.values()), rendered


def test_plots_diff_page_holds_both_revisions(pages: dict[str, Path]) -> None:
    html = pages["diff"].read_text(encoding="utf-8")
    assert '"rev": "HEAD"' in html and '"rev": "workspace"' in html
    for rev in ("HEAD", "workspace"):  # the report's figures are image plots, one per revision
        assert (pages["diff"].parent / "static" / f"{rev}_reports_figures_sizes.png").is_file()


def test_cdn_template_renders_no_vega_plot_offline(pages: dict[str, Path]) -> None:
    # Control: the same plots with DVC's default page; if this rendered, the test could not tell.
    assert _rendered_vega(dump_dom(pages["cdn"])) == {}


def test_screenshot_shows_the_charts_offline_and_not_with_the_cdn_page(pages: dict[str, Path], tmp_path: Path) -> None:
    nonwhite, coloured = _pixels(screenshot(pages["charts"], tmp_path / "show.png"))
    cdn_nonwhite, cdn_coloured = _pixels(screenshot(pages["cdn_charts"], tmp_path / "cdn.png"))
    counts = f"non-white {nonwhite} vs {cdn_nonwhite} (cdn page), coloured {coloured} vs {cdn_coloured}"
    # Measured at 1280x2400 (chromium 156) on the three training and pruning curves of the session's
    # build: non-white 36975 vs 0, coloured 6042 vs 0 (lines and legends); the bounds sit at half of that.
    assert coloured > 3_000 and cdn_coloured < 100, counts
    assert nonwhite - cdn_nonwhite > 18_000, counts
