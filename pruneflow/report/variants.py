"""The TFLite variants against the issue's goals, in words: the smallest pruned file within the
accuracy goal (judged by its paired CI where metrics.json has one), the fastest pruned variant against
the speed goal and whether pruning or the format made it so, what storing the weights sparse changed,
and the files XNNPACK refused; each sentence worded from the measured numbers (`deployment_sentences`).
"""

from __future__ import annotations

from typing import Any

from pruneflow.report.change_words import (
    CANNOT_TELL,
    MET,
    MISSED,
    NO_PAIRED,
    budget_clause,
    budget_verdict,
    difference,
    entry_of,
)
from pruneflow.report.numbers import LATENCY_NOISE, MEANINGFUL_SIZE_X, _bytes, _share

# The targets, checked in every report: gzip dense float Keras → best pruned int8 TFLite
# at ≤ 1 pt accuracy loss, and a pruned variant ≥ 1.3x faster than dense float TFLite at batch 1.
GOAL_GZIP_X, GOAL_ACCURACY_LOSS_PTS, GOAL_SPEEDUP_X = 13.0, 1.0, 1.3


def _speed(x: float, versus: str) -> str:
    """A measured speed ratio (>1: faster) as faster / slower / no measurable change against `versus`."""
    if x >= 1 + LATENCY_NOISE:
        return f"runs {x:.2f}x faster than {versus}"
    if x <= 1 - LATENCY_NOISE:
        return f"runs {1 / x:.2f}x slower than {versus}"
    return (f"runs at {x:.2f}x the speed of {versus}: no measurable speed change (inside the "
            f"±{_share(LATENCY_NOISE)} run-to-run noise)")


def _cause(overall_x: float, same_format_x: float) -> str:
    """What made a pruned variant's speed differ from dense float TFLite: pruning, the format, or neither.

    Args:
        overall_x: its speed-up over the dense float TFLite file.
        same_format_x: its speed-up over the dense model in the same format (pruning alone).

    Returns:
        The clause that follows "so".
    """
    if same_format_x >= 1 + LATENCY_NOISE:
        return "pruning itself made it faster"
    if same_format_x <= 1 - LATENCY_NOISE:
        return "pruning itself made it slower"
    if overall_x >= 1 + LATENCY_NOISE:
        return "the gain comes from the format, not from pruning"
    if overall_x <= 1 - LATENCY_NOISE:
        return "the loss comes from the format, not from pruning"
    return "neither the format nor pruning changed the speed measurably"


def sparse_encoding_sentence(sparse: dict[str, Any], dense_encoded: dict[str, Any], key: str) -> str:
    """What storing the pruned weights sparse changed: bytes, and the measured batch-1 speed.

    Args:
        sparse: the `pruned.sparse` variant's metrics.
        dense_encoded: the `pruned.float` variant's metrics (same weights, dense storage).
        key: the thread-count entry to compare (`threads_1`).

    Returns:
        The "Sparse encoding" sentence.
    """
    saved_x = dense_encoded["size_bytes"] / sparse["size_bytes"]
    size = f"{saved_x:.2f}x smaller" if saved_x >= MEANINGFUL_SIZE_X else f"no smaller: {saved_x:.2f}x"
    x = dense_encoded[key]["batch1_p50_ms"] / sparse[key]["batch1_p50_ms"]
    speed = _speed(x, "the same pruned model dense-encoded")
    # Why no speed-up is expected: XNNPACK densifies the weights on load. Said only where it applies:
    # speed inside the noise, and the file actually ran on XNNPACK.
    why = ("; XNNPACK densifies the weights when it loads the file, unless its sparse (NCHW) inference path engages"
           if abs(x - 1) < LATENCY_NOISE and sparse.get("delegate", "xnnpack") == "xnnpack" else "")
    return (f"Sparse encoding: pruned.sparse is {_bytes(sparse['size_bytes'])} raw vs {_bytes(dense_encoded['size_bytes'])} "
            f"dense-encoded ({size}), and {speed}{why}.")


def _gzip_phrase(metrics: dict[str, Any], v: dict[str, Any]) -> str:
    return (f"{_bytes(v['size_gzip_bytes'])} gzipped, {v['gzip_ratio_vs_dense_keras_x']:.2f}x smaller than the gzipped "
            f"dense float Keras file ({_bytes(metrics['dense']['size_keras_gzip_bytes'])})")


def _gzip_goal(v: dict[str, Any]) -> str:
    ratio = v["gzip_ratio_vs_dense_keras_x"]
    return "meets" if ratio >= GOAL_GZIP_X else f"falls short of (by {GOAL_GZIP_X / ratio:.2f}x)"


def smallest_within_sentence(metrics: dict[str, Any], pruned: dict[str, dict[str, Any]]) -> str:
    """The smallest pruned file whose loss against dense (same format, paired) is shown within the
    accuracy goal: met when its whole 95 % CI lies above −GOAL_ACCURACY_LOSS_PTS. Without one met, the
    smallest file the test set cannot judge is named as "cannot tell with this test set", not as a pick."""
    sig = metrics["significance"]
    budget = GOAL_ACCURACY_LOSS_PTS
    entries = {n: e for n in pruned if (e := entry_of(sig, n)) is not None}
    verdicts = {n: budget_verdict(e, budget) for n, e in entries.items()}
    unjudged = [n for n in pruned if n not in entries]
    rest = (f" Not judged (no paired comparison with a dense file of the same format): {', '.join(unjudged)}."
            if unjudged else "")

    def smallest(verdict: str) -> str | None:
        names = [n for n, v in verdicts.items() if v == verdict]
        return max(names, key=lambda n: pruned[n]["gzip_ratio_vs_dense_keras_x"]) if names else None

    rule = (f"met: the whole paired 95 % CI of its difference from dense in the same format lies above "
            f"−{budget:g} pt")
    best = smallest(MET)
    if best is not None:
        v, e = pruned[best], entries[best]
        open_ = smallest(CANNOT_TELL)
        bigger = "" if open_ is None or (pruned[open_]["gzip_ratio_vs_dense_keras_x"]
                                         <= v["gzip_ratio_vs_dense_keras_x"]) else (
            f"; the smaller {open_} ({pruned[open_]['gzip_ratio_vs_dense_keras_x']:.2f}x): "
            f"{budget_clause(entries[open_], budget)}")
        return (f"Smallest pruned file within {budget:g} pt of dense accuracy ({rule}): {best}, {_gzip_phrase(metrics, v)} "
                f"at {v['test_accuracy_pct']:.1f} % ({difference(e, best, e['reference'])}); it {_gzip_goal(v)} the "
                f"{GOAL_GZIP_X:g}x goal{bigger}.{rest}")
    open_ = smallest(CANNOT_TELL)
    if open_ is not None:
        v, e = pruned[open_], entries[open_]
        return (f"No pruned file is shown to be within {budget:g} pt of dense accuracy on {e['n']:,} test images "
                f"({rule}): the smallest the test set cannot rule out, {open_}, {_gzip_phrase(metrics, v)} at "
                f"{v['test_accuracy_pct']:.1f} % — {budget_clause(e, budget)}: "
                f"{difference(e, open_, e['reference'])}.{rest}")
    missed = ", ".join(f"{n} ({budget_clause(entries[n], budget)})" for n, verdict in verdicts.items() if verdict == MISSED)
    return (f"No pruned variant is within {budget:g} pt of the dense model's accuracy: "
            f"{missed or 'none has a paired comparison'} — missed.{rest}")


def deployment_sentences(metrics: dict[str, Any]) -> list[str]:
    """What the TFLite variants show: size goal, speed goal, what pruning alone changed, runtimes used.

    Args:
        metrics: metrics.json with its `variants` section.

    Returns:
        The sentences, or [] without variants.
    """
    variants = metrics.get("variants") or {}
    if "dense.float" not in variants:
        return []
    base = variants["dense.float"]
    threads = sorted((k for k in base if k.startswith("threads_")), key=lambda k: int(k.split("_")[1]))
    key = threads[0] if threads else None
    keras_acc = metrics["dense"]["test_accuracy_pct"]
    out = []
    pruned = {n: v for n, v in variants.items() if not n.startswith("dense.")}
    if metrics.get("significance"):
        out.append(smallest_within_sentence(metrics, pruned))
    else:
        within = {n: v for n, v in pruned.items() if keras_acc - v["test_accuracy_pct"] <= GOAL_ACCURACY_LOSS_PTS}
        if within:
            best = max(within, key=lambda n: within[n]["gzip_ratio_vs_dense_keras_x"])
            v = within[best]
            out.append(f"Smallest pruned file within {GOAL_ACCURACY_LOSS_PTS:g} pt of dense accuracy: {best}, "
                       f"{_gzip_phrase(metrics, v)} at {v['test_accuracy_pct']:.1f} % "
                       f"({v['test_accuracy_pct'] - keras_acc:+.1f} pts; {NO_PAIRED}); it {_gzip_goal(v)} the "
                       f"{GOAL_GZIP_X:g}x goal.")
        else:
            out.append(f"No pruned variant is within {GOAL_ACCURACY_LOSS_PTS:g} pt of the dense model's accuracy "
                       f"({NO_PAIRED}).")
    if key:
        speeds = {n: v[key].get("batch1_vs_dense_float_x") for n, v in pruned.items() if key in v}
        speeds = {n: x for n, x in speeds.items() if x is not None}
        if speeds:
            fastest = max(speeds, key=speeds.get)
            same = pruned[fastest][key].get("batch1_vs_dense_same_format_x")
            verdict = "meets" if speeds[fastest] >= GOAL_SPEEDUP_X else "misses"
            alone = "" if same is None else (
                f"; against the dense model in the same format it is {same:.2f}x, so {_cause(speeds[fastest], same)}")
            out.append(f"Fastest pruned variant at batch 1 ({key.replace('_', ' ')}): {fastest}, p50 "
                       f"{pruned[fastest][key]['batch1_p50_ms']:.3f} ms vs {base[key]['batch1_p50_ms']:.3f} ms for dense float "
                       f"TFLite, {speeds[fastest]:.2f}x — it {verdict} the {GOAL_SPEEDUP_X:g}x goal{alone}.")
        sparse, float_enc = variants.get("pruned.sparse", {}), variants.get("pruned.float", {})
        if key in sparse and key in float_enc:
            out.append(sparse_encoding_sentence(sparse, float_enc, key))
    fallback = [n for n, v in variants.items() if v.get("delegate", "xnnpack") != "xnnpack"]
    if fallback:
        reason = variants[fallback[0]]["delegate"].split(": ", 1)[-1].split("Node number")[0].strip(" .)")
        out.append(f"{', '.join(fallback)}: XNNPACK refused the file ({reason}), "
                   "so it ran on TFLite's built-in kernels; its latency is not comparable with the XNNPACK rows.")
    return out
