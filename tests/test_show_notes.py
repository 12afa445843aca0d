"""`make show` names every part of a run that was not built or not timed as configured, with its reason,
from the channel_bench table alone (pure, no TensorFlow)."""

from __future__ import annotations

from pruneflow.evaluation.notes import skipped_notes

NOTHING = "nothing to remove at multiple 16: 12 channels (channels.multiple 8 would prune: keep 0.5 keeps 8 of 12)"
UNREACHABLE = "unreachable on this model: the narrowest model is predicted at 0.0500 ms, 1.6x at most"
FIXED = "fixed-size head (Flatten → Dense 'classes'): timed at the model's own 28 px, not 224 px"


def _record(**extra) -> dict:
    return {"test_accuracy_pct": 90.0, "macs": 1e6, **extra}


def test_show_notes_say_why_there_is_no_channel_model_and_where_channel_latency_was_timed():
    table = {"models": {"dense": _record(), "unstructured": _record()},
             "not_applicable": {"channel": NOTHING, "stacked": f"no channel-pruned model to stack on: {NOTHING}",
                                "budget-int8": UNREACHABLE},
             "setup": {"resolution_asked_px": 224, "resolution_px": 28, "resolution_note": FIXED}}
    notes = skipped_notes(table)
    assert notes[0].startswith(f"Channel pruning: no channel-pruned model — {NOTHING}.")
    assert "budget-int8: " + UNREACHABLE + "." in notes
    assert notes[-1] == f"channel latency at channels.resolution 224 px: {FIXED}"


def test_show_notes_list_unbuilt_budgets_and_repeated_plans_beside_a_channel_model():
    widths = {"conv": 8}
    table = {"models": {"dense": _record(), "channel": _record(kind="channel", keep=0.5, multiple=4, kept_channels=widths),
                        "channel-0.35": _record(kind="channel", keep=0.35, multiple=4, kept_channels=dict(widths))},
             "not_applicable": {"budget-float": UNREACHABLE, "uniform_width": "an adopted model has no width multiplier"},
             "setup": {"resolution_asked_px": 224, "resolution_px": 224, "resolution_note": None}}
    assert skipped_notes(table) == [
        f"budget-float: not built — {UNREACHABLE}",
        "uniform-width baseline: not applicable — an adopted model has no width multiplier",
        "keep 0.35 keeps the same channels as keep 0.5 at multiple 4 (every group's width equal): one plan, not a "
        "separate result."]


def test_show_notes_are_empty_for_a_run_that_built_and_timed_everything():
    table = {"models": {"dense": _record(), "channel": _record(kind="channel", keep=0.5, multiple=4,
                                                                kept_channels={"conv": 8})},
             "not_applicable": {}, "setup": {"resolution_asked_px": 224, "resolution_px": 224}}
    assert skipped_notes(table) == [] and skipped_notes({}) == []


def test_show_prints_no_row_for_a_plan_that_removes_nothing_and_says_why(
        tmp_path, monkeypatch, capsys) -> None:
    import json
    import shutil
    from pathlib import Path

    from pruneflow.__main__ import main
    from pruneflow.pipeline import freshness as provenance

    repo = Path(__file__).resolve().parents[1]
    for name in ("params.yaml", "metrics.json", "timings.json"):
        shutil.copy(repo / name, tmp_path / name)
    for name in ("metrics.json", "timings.json"):  # what evaluate writes when channel_bench had no such model
        metrics = json.loads((tmp_path / name).read_text())
        for model in ("channel", "stacked"):
            metrics.get("channels", {}).pop(model, None)
        (tmp_path / name).write_text(json.dumps(metrics))
    table = json.loads((repo / "reports" / "channels.json").read_text())
    for name in ("channel", "stacked"):
        table["models"].pop(name)
    table["not_applicable"] = {"channel": NOTHING, "stacked": f"no channel-pruned model to stack on: {NOTHING}"}
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "channels.json").write_text(json.dumps(table))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(provenance, "stale_warning", lambda *args, **kwargs: None)
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    assert f"channel-pruned: no model — {NOTHING}" in out
    assert f"Channel pruning: no channel-pruned model — {NOTHING}." in out
    assert not any(line.startswith("channel-pruned  ") for line in out.splitlines())
