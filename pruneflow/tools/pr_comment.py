"""Pull-request comment against a base revision, in the order a reviewer reads it: the headline per
model (accuracy, sparsity, bytes, MACs, p50 and speed-up; base → head), `dvc params diff`, every exact
metric that changed (metrics.json), the changed plots, and last, collapsed, the wall-clock fields
(timings.json), each marked within or beyond the noise the runs measured themselves.

`python -m pruneflow.tools.pr_comment --base main [--out reports/pr] [--image-base-url URL]` writes
`<out>/comment.md` and copies each changed image plot next to it, so CI can publish the images and
post the comment. Bad input ends with one line on stderr and exit status 2. Running git and DVC and
parsing what they print: `pruneflow.tools.revisions`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pruneflow.artifacts.files import atomic_dir
from pruneflow.errors import PipelineError
from pruneflow.report.review import exact_changes_table, headline_table, timings_section
from pruneflow.stats.paired import Paired
from pruneflow.tools.revisions import (
    ChangedPlot,
    accuracy_changes,
    check_repo,
    collect_changed_plots,
    dvc_diff,
    metrics_revisions,
)

COMMENT_FILE = "comment.md"


def asset_name(plot_name: str) -> str:
    """The flat file name an image plot gets in the out folder: `reports/figures/a.png` → `reports-figures-a.png`."""
    return plot_name.strip("/").replace("/", "-")


def has_rows(md_table: str) -> bool:
    """Whether DVC's `--md` diff table has any row below its header (an empty diff prints only the header)."""
    return sum(line.startswith("|") for line in md_table.splitlines()) > 2


def _plots_section(plots: Sequence[ChangedPlot], base: str, image_base_url: str | None) -> list[str]:
    if not plots:
        return [f"No plots changed against {base}."]
    lines = []
    for plot in (p for p in plots if p.kind == "image"):
        lines += [f"**{plot.name}** ({plot.status})", ""]
        if plot.status != "removed":
            target = asset_name(plot.name)
            url = f"{image_base_url.rstrip('/')}/{target}" if image_base_url else target
            lines += [f"![{plot.name}]({url})", ""]
    data = [p for p in plots if p.kind == "data"]
    if data:
        lines.append(f"Data plots whose rows changed (`dvc plots diff {base}` overlays both versions):")
        lines += [f"- `{p.name}` ({p.status})" for p in data]
    return lines[:-1] if lines[-1] == "" else lines

def machine_lines(base: str, base_metrics: dict[str, Any], head_metrics: dict[str, Any]) -> list[str]:
    """Where each side's latencies were measured (timings.json `machine`), and a warning when the two
    differ: their latency changes then compare machines, not code."""
    unknown = "an unrecorded machine"
    old, new = base_metrics.get("machine") or unknown, head_metrics.get("machine") or unknown
    if old == new:
        return [f"Latencies of both sides measured on: {new}.", ""]
    return [f"> [!WARNING]\n> Latencies measured on different machines: `{base}` on {old}; this branch on {new}. "
            "Their latency and speed-up changes compare machines, not code.", ""]


def build_body(
    params_diff_md: str,
    base_metrics: dict[str, Any],
    head_metrics: dict[str, Any],
    plots: Sequence[ChangedPlot],
    base: str,
    image_base_url: str | None,
    notes: Sequence[str] = (),
    accuracy_changes: Mapping[str, Paired | str] | None = None,
) -> str:
    """The Markdown comment: title, headline, params diff, exact metrics, changed plots, timings.

    Args:
        params_diff_md: `dvc params diff <base> --md` output.
        base_metrics: flat metrics at `base` (see `pruneflow.tools.revisions.flat_revisions`); empty when DVC
            could not read them.
        head_metrics: flat metrics of the workspace.
        plots: the changed plots (see `pruneflow.tools.revisions.changed_plots`).
        base: the revision compared against, as the user named it.
        image_base_url: where the copied images are published; None links them relative to the comment.
        notes: what DVC could not read at the base revision, shown under the title.
        accuracy_changes: each headline model's base → head accuracy change, paired on the test images
            (`pruneflow.stats.differences.revision_changes`), or why it is not.

    Returns:
        The comment body, ending with a newline.
    """
    params = params_diff_md.strip() if has_rows(params_diff_md) else f"No params changed against {base}."
    exact = exact_changes_table(base_metrics, head_metrics)
    summary, timing_rows = timings_section(base_metrics, head_metrics)
    lines = [
        f"## pruneflow: this branch vs `{base}`",
        "",
        *([f"> [!WARNING]\n> DVC could not read all of `{base}`:", *[f"> - {n}" for n in notes], ""] if notes else []),
        "### Headline",
        "",
        *headline_table(base_metrics, head_metrics, accuracy_changes),
        "",
        *machine_lines(base, base_metrics, head_metrics),
        # Latency is timed on whichever machine ran the pipeline: a base measured elsewhere differs by noise.
        f"<sub>Each cell: `{base}` → this branch (change); (=): unchanged. Test accuracy in Keras; bytes of the "
        "float TFLite file; p50 and speed-up vs dense: float TFLite, batch 1, first bench thread count, all models "
        "in one interleaved benchmark (channel_bench). A timing is *beyond noise* when neither run's own spread "
        "(p50 ± its IQR; speed-up: the quartiles of the per-round ratios) covers the other run's value; an accuracy "
        "change is *beyond noise* when the 95 % CI of the paired difference (the same test images, both revisions' "
        "predictions) excludes 0. *vs dense*: this branch's difference from dense, paired, with its 95 % CI and "
        "exact McNemar p. The int8 "
        "and other TFLite variants are in the tables below.</sub>",
        "",
        "### Params",
        "",
        params,
        "",
        "### Metrics that repeat exactly (metrics.json)",
        "",
        *(exact or [f"No metrics changed against {base}: the same params and data give these bit for bit."]),
        "",
        "### Changed plots",
        "",
        *_plots_section(plots, base, image_base_url),
        "",
        "### Timings (timings.json)",
        "",
        *([f"<details><summary>{summary}</summary>", "", *timing_rows, "", "</details>"] if timing_rows
          else [f"No timings changed against {base}."]),
    ]
    return "\n".join(lines) + "\n"

def write_comment(base: str, out: Path, image_base_url: str | None) -> Path:
    """Diff against `base`, write `<out>/comment.md` and the changed images beside it; return the comment path."""
    check_repo(base)
    # The folder is replaced as a whole (stale images must not be published): never one holding other files.
    ours = lambda f: f.is_file() and f.suffix in {".png", ".md"}  # noqa: E731
    if out.exists() and (not out.is_dir() or not all(ours(f) for f in out.iterdir())):
        raise PipelineError(f"--out={out}: holds other files; allowed: a folder of its own (default reports/pr)")
    params_md, params_notes = dvc_diff("params", base, "--md")
    base_metrics, head_metrics, metrics_notes = metrics_revisions(base)
    plots, images, plots_notes = collect_changed_plots(base)
    changes = accuracy_changes(base)
    body = build_body(params_md, base_metrics, head_metrics, plots, base, image_base_url,
                      params_notes + metrics_notes + plots_notes, changes)
    try:
        with atomic_dir(out) as tmp:
            (tmp / COMMENT_FILE).write_text(body)
            for name, data in images.items():
                (tmp / asset_name(name)).write_bytes(data)
    except OSError as exc:
        raise PipelineError(f"--out={out}: cannot write ({exc.strerror or exc}); allowed: a writable folder") from None
    return out / COMMENT_FILE


def main(argv: list[str] | None = None) -> int:
    """Write the PR comment; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m pruneflow.tools.pr_comment", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against (e.g. main, origin/main)")
    parser.add_argument("--out", type=Path, default=Path("reports/pr"), help="output folder (default: reports/pr)")
    parser.add_argument("--image-base-url", default=None, help="URL the out folder's images are published under")
    args = parser.parse_args(argv)
    try:
        path = write_comment(args.base, args.out, args.image_base_url or None)
    except PipelineError as exc:
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
