"""The report as a document: its sections in order (`build_sections`), rendered to GitHub Markdown
with linked figures or to one self-contained HTML page with the figures embedded."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pruneflow.config.families import family
from pruneflow.config.params import Config
from pruneflow.deploy.machine import describe
from pruneflow.evaluation.tables import comparison_rows, variant_rows
from pruneflow.report.budget import (
    allocation_sentences,
    budget_goals,
    budget_rows,
    budget_sentences,
    prediction_rows,
)
from pruneflow.report.budget_records import budgets_measured, timed_resolution
from pruneflow.report.change_words import significance_blocks
from pruneflow.report.channels import channel_sentences, channel_table, method_sentence
from pruneflow.report.figures import (
    accuracy_latency_figure,
    confusion_figure,
    deployment_figure,
    layer_sparsity_figure,
    png_bytes,
    pruning_schedule_figure,
    sensitivity_figure,
    size_figure,
    training_figure,
    weight_histogram_figure,
)
from pruneflow.report.front import latency_front_figure
from pruneflow.report.inputs import RunArtifacts
from pruneflow.report.method import schedule_label, sensitivity_note, setup_sentences, target_sparsity
from pruneflow.report.sentences import explanation, layer_summary
from pruneflow.report.sweep import sweep_rows, sweep_sentences
from pruneflow.report.sweep_figure import sweep_figure
from pruneflow.report.variants import deployment_sentences

SIGNIFICANCE_TITLE = "How sure are these differences?"


@dataclass(frozen=True)
class Plot:
    """A figure of the report: file name in the figures folder, caption, PNG bytes."""

    file: str
    caption: str
    png: bytes


Block = str | list[str] | pd.DataFrame | Plot


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


class Document(list[Section]):
    """The report's sections in order, and its title (`report_title`): the renderers read both, the
    report stage iterates the sections as a list."""

    def __init__(self, title: str, sections: list[Section]) -> None:
        super().__init__(sections)
        self.title = title


def report_title(cfg: Config) -> str:
    """The report's title from the model's own facts: the adopted file (`model.file`) or the family
    `model.architecture` names (`pruneflow.config.families`), never a family the run did not use."""
    m = cfg.model
    if m.file is not None:
        return f"Pruning report: dense vs magnitude-pruned {m.file.name} (adopted model)"
    name = family(m.architecture).name
    return f"Pruning report: dense vs magnitude-pruned {'toy architecture' if name == 'toy' else name}"


def machine_phrase(machine: dict[str, Any]) -> str:
    """The machine the latencies were measured on, in one line (machine.json), or that it is unrecorded."""
    return describe(machine) if machine else "an unrecorded machine"


def _filled(block: Block) -> bool:
    """Whether a block has anything to show (an empty list or table is left out)."""
    return not (isinstance(block, (list, pd.DataFrame)) and len(block) == 0)


def budget_section(cfg: Config, art: RunArtifacts) -> list[Section]:
    """The latency-budget section (none for runs without every configured budgeted model measured)."""
    table, side = art.channels, cfg.data.image_size
    if not budgets_measured(cfg, table):
        return []
    front = Plot("latency_front.png", "Latency budgets: test accuracy (int8 panels: the int8 file's) against measured "
                 "batch-1 p50, per format and input side, for dense, the greedily budgeted models, every model with one "
                 "kept fraction in all groups and the uniform-width baseline; dense's accuracy dashed.",
                 png_bytes(latency_front_figure(table, side, timed_resolution(table, cfg.channels.resolution))))
    blocks: tuple[Block, ...] = (
        f"Budgets are batch-1 p50 latencies measured on {machine_phrase(art.machine)}: they hold for this CPU and "
        "runtime, not for another.",
        budget_sentences(table, side), budget_goals(table, side),
        allocation_sentences(table, side, art.metrics.get("significance")),
        budget_rows(table, side), prediction_rows(table), front)
    return [Section("Latency budget", tuple(block for block in blocks if _filled(block)))]


def build_sections(cfg: Config, art: RunArtifacts) -> Document:
    """The report's content, in order, under its title (pure: artifacts in, sections out)."""
    m = art.metrics
    sig = m.get("significance")
    main = cfg.main_point()
    per_class = art.per_class.pivot(index="class", columns="model", values="recall_pct").reindex(list(art.classes))
    per_class = per_class.reset_index().rename(columns={"dense": "dense recall %", "pruned": "pruned recall %"})
    per_class.columns.name = None
    plots = {
        "sizes": Plot("sizes.png", "File sizes, raw and gzip; the ratio is dense ÷ pruned.", png_bytes(size_figure(m))),
        "accuracy_latency": Plot("accuracy_latency.png", "Test accuracy and batch-1 TFLite latency (boxes: quartiles, "
                                 "whiskers: 1.5 IQR).", png_bytes(accuracy_latency_figure(m, art.latency))),
        "layers": Plot("layer_sparsity.png", "Sparsity and remaining weights per prunable layer.",
                       png_bytes(layer_sparsity_figure(art.layers))),
        "histogram": Plot("weight_histogram.png", "Magnitudes of the prunable weights before and after pruning.",
                          png_bytes(weight_histogram_figure(art.histogram))),
        "confusion": Plot("confusion.png", "Confusion matrices on the test split.",
                          png_bytes(confusion_figure(art.predictions, art.classes))),
        "training": Plot("training_curves.png", "Loss and accuracy per epoch, dense training then pruning fine-tune.",
                         png_bytes(training_figure(art.train_log, art.prune_log))),
        "schedule": Plot("pruning_schedule.png", "Mask sparsity per step during the pruning fine-tune.",
                         png_bytes(pruning_schedule_figure(art.prune_steps, target_sparsity(cfg.prune),
                                                           schedule_label(cfg.prune)))),
        "deployment": Plot("deployment.png", "Each TFLite variant's gzipped size and batch-1 latency, with its test accuracy.",
                           png_bytes(deployment_figure(m))),
        "sweep": Plot("sweep_pareto.png", "Sweep: test accuracy against gzipped float TFLite size (bar: the gzip bound "
                      "at that point's zeros) and against batch-1 latency (filled: int8, hollow: float), for the "
                      "unstructured sparsity points and the structured channel-pruned ones (labelled by the kept "
                      "fraction of channels); dense dashed.", png_bytes(sweep_figure(art.sweep))),
        "sensitivity": Plot("sensitivity.png", "Accuracy drop per unit pruned alone (validation split).",
                            png_bytes(sensitivity_figure(art.sensitivity))),
    }
    bench = m.get("setup", {}).get("bench", {})
    method = (f"Latency and throughput: {bench.get('method', '')}; {bench.get('warmup_rounds')} warm-up and "
              f"{bench.get('runs')} timed rounds at batch 1, {bench.get('batch_runs')} at batch {bench.get('batch')}, "
              f"threads {bench.get('threads')}, on {machine_phrase(art.machine)}. 'zeros in file' counts exact "
              "zeros among the conv/depthwise/fully-connected weights stored in the flatbuffer itself.") if bench else ""
    # Without a channel_bench table (artifacts built by hand, or a run from before the stage) the section is left out.
    channels = [Section("Structured channel pruning", (
        channel_sentences(art.channels, cfg.data.image_size, sig), method_sentence(art.channels),
        channel_table(art.channels, sig)))] if art.channels else []
    return Document(report_title(cfg), [
        Section("What was done", (setup_sentences(cfg, art),)),
        Section("Dense vs pruned", (comparison_rows(m), plots["sizes"], plots["accuracy_latency"])),
        Section("What the numbers say", (explanation(m, art.layers),)),
        Section("Deployment formats", (variant_rows(m), deployment_sentences(m), method, plots["deployment"])),
        Section("Sparsity sweep", (
            sweep_sentences(art.sweep, cfg.sweep.accuracy_budget_pts, m["setup"]["test_samples"],
                            m.get("reproducibility"), sig, main.name if main else None),
            sweep_rows(art.sweep), plots["sweep"], plots["sensitivity"], sensitivity_note(cfg))),
        *channels,
        *budget_section(cfg, art),
        Section(SIGNIFICANCE_TITLE, tuple(significance_blocks(m))),
        Section("Where the remaining weights are", (
            layer_summary(art.layers).round(2), plots["layers"], plots["histogram"])),
        Section("Accuracy per class", (plots["confusion"], per_class.round(1))),
        Section("Training and pruning curves", (plots["training"], plots["schedule"])),
    ])


# The title of sections rendered without a Document (no config to name the model by).
REPORT_TITLE = "Pruning report: dense vs magnitude-pruned model"
PROVENANCE = ("Written by the `report` stage from this run's own outputs (its metrics file and the tables its "
              "stages wrote); every number and sentence is computed, none typed by hand.")


def _title(sections: list[Section]) -> str:
    return sections.title if isinstance(sections, Document) else REPORT_TITLE


def render_markdown(sections: list[Section], figures_link: str) -> str:
    """GitHub-flavoured Markdown; figures linked from `figures_link` (relative to the .md file)."""
    lines = [f"# {_title(sections)}", "", f"_{PROVENANCE}_", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Plot):
                lines += [f"![{block.caption}]({figures_link}/{block.file})", "", f"_{block.caption}_", ""]
            elif isinstance(block, pd.DataFrame):
                # disable_numparse: cells such as "10,219,753" are already formatted; keep them as they are
                lines += [block.to_markdown(index=False, disable_numparse=True), ""]
            elif isinstance(block, list):
                lines += [f"- {sentence}" for sentence in block] + [""]
            else:
                lines += [block, ""]
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { font-style: italic; color: #555; }
"""


def render_html(sections: list[Section]) -> str:
    """One self-contained HTML file: inline CSS, figures as data URIs, no external resource."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(_title(sections))}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(_title(sections))}</h1>", f"<p><em>{html.escape(PROVENANCE)}</em></p>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Plot):
                data = base64.b64encode(block.png).decode()
                parts.append(f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                             f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
            elif isinstance(block, pd.DataFrame):
                parts.append(block.to_html(index=False, border=0, float_format=lambda v: f"{v:,.2f}"))
            elif isinstance(block, list):
                parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in block) + "</ul>")
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


