"""What `make show` says beside its tables about the parts of a run that were not built or not measured
as configured, from the channel_bench table (reports/channels.json): a channel plan that removes
nothing, a point with another point's plan, a budget the model cannot reach, the uniform-width baseline
that does not apply, channel latencies timed at the model's own side. The report says the same in its
sections (`pruneflow.report.channels` takes its sentences from here, `pruneflow.report.budget`); this is
the one-screen list."""

from __future__ import annotations

from typing import Any

from pruneflow.artifacts.points import same_plan_as


def _point_name(name: str, record: dict[str, Any]) -> str:
    """A channel point as a sentence names it: `keep 0.35`, `budget int8`, else its table name."""
    if record.get("kind") == "channel" and "keep" in record:
        return f"keep {record['keep']:g}"
    return f"budget {name.removeprefix('budget-')}" if name.startswith("budget-") else name


def same_plan_sentences(table: dict[str, Any]) -> list[str]:
    """One sentence per channel point whose kept widths equal an earlier point's: one plan fine-tuned
    twice is one model, not two results (the table lists it once)."""
    models = table["models"]
    out = []
    for name, first in same_plan_as(models).items():
        r = models[name]
        multiple = f" at multiple {r['multiple']}" if "multiple" in r else ""
        out.append(f"{_point_name(name, r)} keeps the same channels as {_point_name(first, models[first])}{multiple} "
                   "(every group's width equal): one plan, not a separate result.")
    return out


def nothing_removed_sentences(table: dict[str, Any]) -> list[str]:
    """Why there is no channel-pruned model (its plan removes no channel, so nothing was fine-tuned or
    measured), and the other channel points left out for a reason of their own."""
    reasons = table.get("not_applicable") or {}
    head = (f"Channel pruning: no channel-pruned model — {reasons.get('channel', 'not built')}. Nothing was "
            "fine-tuned or measured for it, so the stacked model and the uniform-width baseline are left out too.")
    return [head, *(f"{name.replace('channel-', 'keep ')}: {why}." for name, why in reasons.items()
                    if name.startswith(("channel-", "budget-")))]


def skipped_notes(table: dict[str, Any]) -> list[str]:
    """One line per part left out, with its reason ([] for a run that built and timed everything).

    Args:
        table: the channel_bench table (`models`, `not_applicable` name → reason, `setup`).

    Returns:
        The lines, main channel model first, then the other points and budgets, the baseline, the
        repeated plans and the resolution the channel latencies were timed at.
    """
    if not table:
        return []
    reasons = table.get("not_applicable") or {}
    if "channel" not in table.get("models", {}):
        out = nothing_removed_sentences(table)
    else:
        out = [f"{name.replace('channel-', 'keep ')}: not built — {why}" for name, why in reasons.items()
               if name.startswith(("channel-", "budget-"))]
        if "uniform_width" in reasons:
            out.append(f"uniform-width baseline: not applicable — {reasons['uniform_width']}")
    out += same_plan_sentences(table)
    setup = table.get("setup") or {}
    if setup.get("resolution_note"):
        out.append(f"channel latency at channels.resolution {setup.get('resolution_asked_px')} px: "
                   f"{setup['resolution_note']}")
    return out
