"""Structured channel pruning in words and as a table: what removing whole channels did to MACs, batch-1
latency, file sizes and accuracy, the stacked (channel + magnitude) model, the uniform-width baseline
trained from scratch, and the issue's goals against what was measured.

Every number comes from the channel_bench table (reports/channels.json: `models`, `latency`, `setup`);
every verdict from a measured ratio against a named threshold.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pruneflow.artifacts.points import same_plan_as
from pruneflow.evaluation.metrics import flat_channels, speedup_spread
from pruneflow.evaluation.notes import nothing_removed_sentences, same_plan_sentences
from pruneflow.evaluation.tables import channel_rows
from pruneflow.report.change_words import (
    MISSED,
    budget_clause,
    budget_reason,
    budget_verdict,
    change_wording,
    difference,
    entry_of,
    no_pair,
)
from pruneflow.report.numbers import LATENCY_NOISE, _bytes, _share

# The goals for the channel-pruned model (same format, batch 1, at the data's side) and for the
# stacked model (its gzipped int8 TFLite file against the gzipped dense float Keras file).
GOAL_CHANNEL_SPEEDUP_X, GOAL_CHANNEL_FLOAT_SIZE_X, GOAL_CHANNEL_LOSS_PTS = 2.0, 3.0, 0.5
GOAL_STACKED_GZIP_X, GOAL_STACKED_LOSS_PTS = 30.0, 1.0
FORMATS = ("float", "int8")
# The byte columns of a model's record, per TFLite format: (raw, gzip).
SIZE_KEYS = {"float": ("tflite_bytes", "tflite_gzip_bytes"), "int8": ("int8_tflite_bytes", "int8_tflite_gzip_bytes")}
# Accuracy differences below this are the same number of test images (no measurable change).
SAME_ACCURACY_PTS = 1e-9


def settings(table: dict[str, Any]) -> list[tuple[int, int]]:
    """The timed (side px, threads) pairs of the table's `latency` entry, by side then threads."""
    pairs = []
    for key in table["latency"]:
        side, threads = key.split("px_threads_")
        pairs.append((int(side), int(threads)))
    return sorted(pairs)


def _key(side: int, threads: int) -> str:
    return f"{side}px_threads_{threads}"


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _where(side: int, threads: int) -> str:
    return f"{side} px, {_threads(threads)}"


def _mmacs(macs: float) -> str:
    return f"{macs / 1e6:.2f} M"


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def mac_sentence(table: dict[str, Any]) -> str:
    """What the channel-pruned model is and how many MACs and parameters it removed (dense → channel)."""
    d, c = table["models"]["dense"], table["models"]["channel"]
    how = ", ".join(f"{key} {c[key]}" for key in ("scope", "criterion", "schedule") if key in c)
    return (f"Channel pruning keeps {_share(c['keep'])} of each channel group ({how}): MACs per image "
            f"{_mmacs(d['macs'])} → {_mmacs(c['macs'])} ({d['macs'] / c['macs']:.2f}x fewer), parameters "
            f"{d['params']:,} → {c['params']:,} ({d['params'] / c['params']:.2f}x fewer).")


def speed_sentences(table: dict[str, Any]) -> list[str]:
    """The channel model's measured batch-1 speed-up over dense, same format, at every side and thread
    count, and its efficiency: speed-up ÷ MAC reduction (1.0: every MAC removed saved its share of time)."""
    d, c = table["models"]["dense"], table["models"]["channel"]
    macs_x = d["macs"] / c["macs"]
    out = []
    for side, threads in settings(table):
        timed = table["latency"][_key(side, threads)]
        parts = []
        for fmt in FORMATS:
            ch, de = timed[f"channel.{fmt}"], timed[f"dense.{fmt}"]
            x = ch["speedup_vs_dense_same_format_x"]
            spread = speedup_spread(x, ch.get("speedup_paired_q25_x"), ch.get("speedup_paired_q75_x"))
            parts.append(f"{fmt}: p50 {ch['p50_ms']:.3f} ms vs {de['p50_ms']:.3f} ms dense, speed-up {x:.2f}x{spread}, "
                         f"efficiency {x / macs_x:.2f}")
        out.append(f"Batch-1 speed-up of the channel model over dense in the same format at {_where(side, threads)}: "
                   f"{'; '.join(parts)} (efficiency = speed-up ÷ the {macs_x:.2f}x MAC reduction).")
    return out


def size_sentence(table: dict[str, Any]) -> str:
    """The channel model's TFLite files, float and int8, raw and gzipped, against dense's in the same format."""
    d, c = table["models"]["dense"], table["models"]["channel"]
    parts = []
    for fmt in FORMATS:
        raw, gz = SIZE_KEYS[fmt]
        parts.append(f"{fmt} {_bytes(c[raw])} raw ({d[raw] / c[raw]:.2f}x smaller than dense's {_bytes(d[raw])}), "
                     f"{_bytes(c[gz])} gzipped ({d[gz] / c[gz]:.2f}x smaller than {_bytes(d[gz])})")
    return f"Channel model's TFLite files: {'; '.join(parts)}."


def _paired(sig: dict[str, Any] | None, name: str, model: str, reference: str) -> str:
    """`: <model> loses … (95 % CI …, McNemar p = …)…` of a model's entry against dense, or the note that
    this run has none."""
    entry = entry_of(sig, name)
    return f"; {no_pair(sig)}" if entry is None else f": {difference(entry, model, reference)}"


def accuracy_sentence(table: dict[str, Any], sig: dict[str, Any] | None = None) -> str:
    """The channel model's test accuracy against dense, float and int8, each difference with its paired
    95 % CI and McNemar p (`sig`: metrics.json's `significance`, None for a run from before it)."""
    d, c = table["models"]["dense"], table["models"]["channel"]
    return (f"Channel model's test accuracy: {c['test_accuracy_pct']:.1f} % vs {d['test_accuracy_pct']:.1f} % dense "
            f"({c['test_accuracy_pct'] - d['test_accuracy_pct']:+.2f} pts"
            f"{_paired(sig, 'channel', 'the channel model', 'dense')}); int8 {c['int8_test_accuracy_pct']:.1f} % "
            f"vs {d['int8_test_accuracy_pct']:.1f} % ({c['int8_test_accuracy_pct'] - d['int8_test_accuracy_pct']:+.2f} pts"
            f"{_paired(sig, 'channel.int8', 'its int8 file', 'dense int8')}).")


def _as_fast(stacked_ms: float, channel_ms: float) -> str:
    """The stacked int8 model's p50 against the channel int8 model's, within the latency noise or not."""
    x = channel_ms / stacked_ms  # > 1: stacked is faster
    times = f"p50 {stacked_ms:.3f} ms vs {channel_ms:.3f} ms"
    if abs(x - 1) < LATENCY_NOISE:
        return f"as fast as the channel int8 model ({times}, inside the ±{_share(LATENCY_NOISE)} noise)"
    if x < 1:
        return f"not as fast as the channel int8 model: {1 / x:.2f}x slower ({times})"
    return f"faster than the channel int8 model: {x:.2f}x ({times})"


def stacked_sentence(table: dict[str, Any], side: int, sig: dict[str, Any] | None = None) -> str:
    """The stacked model's gzipped int8 file against the gzipped dense float Keras file, its accuracy, and
    whether its int8 file runs as fast as the channel model's at the data's side."""
    d, s = table["models"]["dense"], table["models"]["stacked"]
    x = d["keras_gzip_bytes"] / s["int8_tflite_gzip_bytes"]
    target = f"{_share(s['target_sparsity'])} magnitude pruning" if "target_sparsity" in s else "magnitude pruning"
    zeros = f", {s['sparsity_prunable_pct']:.1f} % of its prunable weights zero" if "sparsity_prunable_pct" in s else ""
    speed = "; ".join(f"at {_where(sd, t)} it is "
                      + _as_fast(table["latency"][_key(sd, t)]["stacked.int8"]["p50_ms"],
                                 table["latency"][_key(sd, t)]["channel.int8"]["p50_ms"])
                      for sd, t in settings(table) if sd == side)
    return (f"Stacked (the channel model, then {target}{zeros}): int8 TFLite {_bytes(s['int8_tflite_gzip_bytes'])} "
            f"gzipped, {x:.2f}x smaller than the gzipped dense float Keras file ({_bytes(d['keras_gzip_bytes'])}), at "
            f"{s['test_accuracy_pct']:.1f} % test accuracy ({s['test_accuracy_pct'] - d['test_accuracy_pct']:+.2f} pts"
            f"{_paired(sig, 'stacked', 'the stacked model', 'dense')}){'; ' + speed if speed else ''}.")


def scratch_budget(u: dict[str, Any]) -> str:
    """How long the uniform-width baseline trained: Scratch-B (Liu et al., ICLR 2019: as many steps as
    dense training plus the channel fine-tune), or that a run from before it does not record it."""
    b = u.get("training_budget")
    if not b:
        return "the from-scratch baseline (its training budget is not recorded: a run from before Scratch-B)"
    steps = f", {b['steps']:,} steps" if "steps" in b else ""
    return (f"the from-scratch baseline trained for the same total steps (Scratch-B: {b['dense_epochs']} dense + "
            f"{b['fine_tune_epochs']} fine-tune epochs{steps})")


def baseline_sentence(table: dict[str, Any], sig: dict[str, Any] | None = None) -> str:
    """The uniform-width model trained from scratch at about the channel model's MACs, and whether channel
    pruning beat it, lost to it or cannot be told apart from it by the paired 95 % CI (`sig`: metrics.json's
    `significance`), or why there is none: an adopted model or a family without a width multiplier."""
    if "uniform_width" not in table["models"]:
        reason = (table.get("not_applicable") or {}).get("uniform_width", "not built")
        return f"Uniform-width baseline: not applicable — {reason}. The channel-pruned model has no from-scratch twin here."
    c, u = table["models"]["channel"], table["models"]["uniform_width"]
    diff = c["test_accuracy_pct"] - u["test_accuracy_pct"]
    baseline = scratch_budget(u)
    entry = (sig or {}).get("channel_vs_uniform_width")
    if entry is None:
        # No interval: the measured gap is stated, never called a win.
        verdict = (f"channel pruning and {baseline} tied" if abs(diff) <= SAME_ACCURACY_PTS else
                   f"channel pruning scored {diff:+.2f} pts against {baseline}; {no_pair(sig)}, so no winner is called")
    else:
        said = ("beat" if entry["diff_pts"] > 0 else "lost to") if entry["differs"] else "cannot be told apart from"
        verdict = (f"channel pruning {said} {baseline}: "
                   f"{difference(entry, 'the channel model', 'the baseline')}")
    budget = f"closest to the channel model's {_mmacs(u['target_macs'])}" if "target_macs" in u else "matched"
    return (f"Uniform-width baseline: the same architecture at alpha {u['alpha']:g} (MACs {budget}: "
            f"{_mmacs(u['macs'])}, {u['params']:,} parameters), trained from scratch, scores "
            f"{u['test_accuracy_pct']:.1f} % vs {c['test_accuracy_pct']:.1f} % for the channel-pruned model — {verdict}.")


def goal_sentences(table: dict[str, Any], side: int, sig: dict[str, Any] | None = None) -> list[str]:
    """Each of the issue's goals against the measured figure, worded met or missed; the accuracy budgets met,
    missed or "cannot tell with this test set" by the paired 95 % CI of `sig` (metrics.json's
    `significance`; a run from before it is judged on the point estimate, and says so)."""
    m = table["models"]
    d, c, s = m["dense"], m["channel"], m["stacked"]
    out = []
    measured = [(sd, t, fmt, table["latency"][_key(sd, t)][f"channel.{fmt}"]["speedup_vs_dense_same_format_x"])
                for sd, t in settings(table) if sd == side for fmt in FORMATS]
    speeds = [f"{fmt}, {_threads(t)}: {x:.2f}x — {_verdict(x >= GOAL_CHANNEL_SPEEDUP_X)}"
              for sd, t, fmt, x in measured]
    out.append(f"Goal: channel batch-1 p50 ≥ {GOAL_CHANNEL_SPEEDUP_X:g}x lower than dense in the same format at "
               f"{side} px: {'; '.join(speeds) if speeds else 'not measured at that side — missed'}.")
    raw_x = d["tflite_bytes"] / c["tflite_bytes"]
    out.append(f"Goal: channel raw float TFLite ≥ {GOAL_CHANNEL_FLOAT_SIZE_X:g}x smaller than dense: {raw_x:.2f}x "
               f"({_bytes(c['tflite_bytes'])} vs {_bytes(d['tflite_bytes'])}) — {_verdict(raw_x >= GOAL_CHANNEL_FLOAT_SIZE_X)}.")
    loss = d["test_accuracy_pct"] - c["test_accuracy_pct"]
    entry = entry_of(sig, "channel")
    if entry is None:
        verdict = f"{no_pair(sig)}) — {_verdict(loss <= GOAL_CHANNEL_LOSS_PTS + SAME_ACCURACY_PTS)}"
    else:
        verdict = (f"{difference(entry, 'the channel model', 'dense')}) — "
                   f"{budget_clause(entry, GOAL_CHANNEL_LOSS_PTS)}")
    out.append(f"Goal: channel accuracy loss ≤ {GOAL_CHANNEL_LOSS_PTS:g} pt: {change_wording(-loss)} "
               f"({c['test_accuracy_pct']:.1f} % vs {d['test_accuracy_pct']:.1f} %; {verdict}.")
    out.append(_stacked_goal(d, s, entry_of(sig, "stacked"), no_pair(sig)))
    return out


def _stacked_goal(d: dict[str, Any], s: dict[str, Any], entry: dict[str, Any] | None, why_none: str) -> str:
    """Goal: the stacked int8 file's gzip ratio against dense's float Keras file, at the accuracy budget
    (judged by the stacked model's paired CI against dense when the run has one)."""
    gz_x = d["keras_gzip_bytes"] / s["int8_tflite_gzip_bytes"]
    s_loss = d["test_accuracy_pct"] - s["test_accuracy_pct"]
    short = [f"{GOAL_STACKED_GZIP_X / gz_x:.2f}x short on size"] if gz_x < GOAL_STACKED_GZIP_X else []
    head = (f"Goal: stacked int8 gzipped ≥ {GOAL_STACKED_GZIP_X:g}x smaller than the gzipped dense float Keras file "
            f"at ≤ {GOAL_STACKED_LOSS_PTS:g} pt loss: {gz_x:.2f}x at {change_wording(-s_loss)}")
    if entry is None:
        short += ([f"{s_loss - GOAL_STACKED_LOSS_PTS:.2f} pts over the accuracy budget"]
                  if s_loss > GOAL_STACKED_LOSS_PTS + SAME_ACCURACY_PTS else [])
        return (f"{head} ({why_none}) — {_verdict(not short)}{' (' + ', '.join(short) + ')' if short else ''}.")
    accuracy = budget_verdict(entry, GOAL_STACKED_LOSS_PTS)
    clause = f"accuracy: {budget_reason(entry, GOAL_STACKED_LOSS_PTS)}"
    verdict = "missed" if short or accuracy == MISSED else accuracy
    return f"{head} ({difference(entry, 'the stacked model', 'dense')}) — {verdict} ({', '.join([*short, clause])})."


def method_sentence(table: dict[str, Any]) -> str:
    """How the latencies were measured (the table's own `setup`)."""
    setup = table.get("setup") or {}
    runs = setup.get("runs") or {}
    warmup = setup.get("warmup") or {}
    per_side = ", ".join(f"{side} px: {n} after {warmup.get(side, '?')} warm-up" if isinstance(warmup, dict) else
                         f"{side} px: {n}" for side, n in sorted(runs.items(), key=lambda kv: int(kv[0])))
    # a fixed-size head (Flatten → Dense) cannot take channels.resolution: timed at its own side instead
    own = (f" No timings at channels.resolution {setup.get('resolution_asked_px')} px: {setup['resolution_note']}."
           if setup.get("resolution_note") else "")
    return (f"Latency: {setup.get('method', 'batch 1')}; timed rounds per side ({per_side}), "
            f"threads {', '.join(str(t) for t in setup.get('threads', ()))}.{own}" if setup else "")


def channel_sentences(table: dict[str, Any], side: int, sig: dict[str, Any] | None = None) -> list[str]:
    """The section's sentences, in reading order.

    Args:
        table: the channel_bench table (`models` with dense, unstructured, channel, stacked, uniform_width;
            `latency` per `<side>px_threads_<n>`; `setup`).
        side: the data's image side, where the goals are checked.
        sig: metrics.json's `significance` section (paired CIs), None for a run from before it.

    Returns:
        MACs, speed and efficiency, sizes, accuracy, stacked, baseline, the goals, then the points that
        repeat another's plan; where the main plan removes no channel, only why.
    """
    if "channel" not in table["models"]:
        return [*nothing_removed_sentences(table), *same_plan_sentences(table)]
    return [mac_sentence(table), *speed_sentences(table), size_sentence(table), accuracy_sentence(table, sig),
            stacked_sentence(table, side, sig), baseline_sentence(table, sig), *goal_sentences(table, side, sig),
            *same_plan_sentences(table)]


def channel_table(table: dict[str, Any], sig: dict[str, Any] | None = None) -> pd.DataFrame:
    """The per-model table as the report shows it (the same rows `make show` prints), each accuracy
    difference from dense with its paired CI and p from `sig` (metrics.json `significance`); a point
    with another's plan is listed once, under the first name (`same_plan_sentences` says so)."""
    same = same_plan_as(table["models"])
    return channel_rows(flat_channels({**table, "models": {k: v for k, v in table["models"].items() if k not in same}}), sig)
