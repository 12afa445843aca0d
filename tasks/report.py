"""Stage report: the run's figures, report.md and a self-contained report.html."""

from __future__ import annotations

import os
from pathlib import Path

from pruneflow.artifacts.files import atomic_dir, write_bytes
from pruneflow.config.params import Config
from pruneflow.errors import PipelineError
from pruneflow.report.inputs import load_artifacts
from pruneflow.report.render import Plot, build_sections, render_html, render_markdown


def run(cfg: Config) -> None:
    """Edge: read the run's artifacts, write the figures, report.md and report.html."""
    p = cfg.paths
    art = load_artifacts(cfg)
    if not {"actual", "dense", "pruned"} <= set(art.predictions.columns):  # then one column per other model
        raise PipelineError(f"{p.predictions}: expected columns actual, dense, pruned; rerun evaluate")
    sections = build_sections(cfg, art)
    with atomic_dir(p.figures) as figures:
        for section in sections:
            for block in section.blocks:
                if isinstance(block, Plot):
                    (figures / block.file).write_bytes(block.png)
    link = Path(os.path.relpath(p.figures, p.report_md.parent)).as_posix()
    write_bytes(p.report_md, render_markdown(sections, link).encode())
    write_bytes(p.report_html, render_html(sections).encode())
    figures = sum(isinstance(block, Plot) for section in sections for block in section.blocks)
    print(f"report: {p.report_md}, {p.report_html} ({figures} figures in {p.figures})")

