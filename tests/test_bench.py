"""The benchmark's core: interleaved shuffled rounds, summaries, and speed-ups from the same rounds (no timing asserted)."""

from __future__ import annotations

import numpy as np
import pytest


def test_every_round_runs_each_call_once_after_the_warmup_in_a_shuffled_order() -> None:
    from pruneflow.deploy.benchmark import interleaved_ms

    calls: list[str] = []
    times = interleaved_ms({name: (lambda n=name: calls.append(n)) for name in "abc"}, warmup=2, runs=30, seed=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 30, "b": 30, "c": 30}
    rounds = [calls[i : i + 3] for i in range(0, len(calls), 3)]
    assert len(rounds) == 32 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds
    assert all(np.all(t >= 0) for t in times.values())


def test_speedup_is_the_ratio_of_medians_with_per_round_quartiles() -> None:
    from pruneflow.deploy.benchmark import speedup

    reference = np.array([2.0, 2.0, 4.0, 2.0])
    candidate = np.array([1.0, 1.0, 1.0, 4.0])
    s = speedup(reference, candidate)
    assert s["x"] == pytest.approx(2.0 / 1.0)
    assert s["paired_median_x"] == pytest.approx(np.median(reference / candidate))
    assert s["paired_q25_x"] <= s["paired_median_x"] <= s["paired_q75_x"]


def test_summary_reports_median_tails_and_spread() -> None:
    from pruneflow.deploy.benchmark import summarize

    s = summarize(np.arange(1.0, 101.0))
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p5_ms"] < s["p50_ms"] < s["p95_ms"]
    assert s["iqr_ms"] == pytest.approx(49.5)


@pytest.mark.parametrize("variant, twin", [("pruned.int8", "dense.int8"), ("pruned_pqat.int8", "dense.int8"),
                                           ("pruned.sparse", "dense.sparse")])
def test_a_pruned_variant_is_compared_with_the_dense_model_in_the_same_format(variant: str, twin: str) -> None:
    from pruneflow.deploy.benchmark import same_format_dense

    assert same_format_dense(variant) == twin
