"""How sure the report's accuracy differences are: every comparison of metrics.json's `significance`
section (pruneflow.stats.differences, paired on the same test images) worded for a sentence and gathered in
one table, with the test-set size that would resolve a small difference and the int8-collapse flag.

The numbers come from `pruneflow.stats.paired` (scipy's bootstrap, statsmodels' exact McNemar and
power); this module only words them. A run from before issue 26 has no `significance` section: the
sentences then say that no paired interval exists instead of inventing one.
"""

from __future__ import annotations

import statistics
from dataclasses import fields
from typing import Any

import pandas as pd

from pruneflow.stats.differences import significance_rows
from pruneflow.stats.paired import (
    CANNOT_TELL,
    CONFIDENCE,
    MET,
    MINUS,
    MISSED,
    N_RESAMPLES,
    Paired,
    describe,
    drop_verdict,
)

NO_PAIRED = "no paired 95 % CI: this run's metrics.json is from before issue 26, so this is a single-run point estimate"
METHOD = (f"Method: every difference is paired on the same test images; its {100 * CONFIDENCE:g} % CI is a percentile "
          f"bootstrap over images ({N_RESAMPLES:,} resamples, fixed seed, scipy), its p the exact McNemar test on the "
          f"images only one of the two models gets right (statsmodels); a difference is called real only when the CI "
          f"excludes 0 and p < {1 - CONFIDENCE:.2g}, and a loss budget is met when the whole CI lies above {MINUS}budget, "
          f"missed when it lies wholly below, else the test set cannot tell.")
_PAIRED_FIELDS = tuple(f.name for f in fields(Paired))


def signed(x: float) -> str:
    """One decimal, explicit sign, typographic minus (a value that rounds to zero is "0.0")."""
    r = round(x, 1) + 0.0
    return "0.0" if r == 0 else f"{r:+.1f}".replace("-", MINUS)


def ci_text(entry: dict[str, Any]) -> str:
    """`95 % CI −2.2 to +0.6 pt`."""
    return f"95 % CI {signed(entry['ci_low_pts'])} to {signed(entry['ci_high_pts'])} pt"


def paired_of(entry: dict[str, Any]) -> Paired:
    """The `Paired` comparison behind one entry of the section (b − a: the model minus its reference)."""
    return Paired(**{name: entry[name] for name in _PAIRED_FIELDS if name in entry})


def entry_of(sig: dict[str, Any] | None, name: str, main_point: str | None = None) -> dict[str, Any] | None:
    """A model's entry against dense under any of its names (`unstructured` and the main sweep point's name
    are `pruned`); None for a run without the section or without that model."""
    if not sig:
        return None
    alias = "pruned" if name == "unstructured" or (main_point is not None and name == main_point) else name
    return sig.get("against_dense", {}).get(alias)


def difference(entry: dict[str, Any], model: str, reference: str) -> str:
    """`pruned loses 8 test images dense gets right and wins 4: −0.8 pt (95 % CI −2.2 to +0.6, McNemar
    p = 0.39): not distinguishable from no change on 500 images`."""
    return (f"{model} loses {entry['a_only']} test images {reference} gets right and wins {entry['b_only']}: "
            f"{describe(paired_of(entry))}")


def budget_verdict(entry: dict[str, Any], budget_pts: float) -> str:
    """Met, missed or "cannot tell with this test set": a loss of at most `budget_pts`, judged by the
    whole paired interval (`pruneflow.stats.paired.drop_verdict`)."""
    return drop_verdict(paired_of(entry), budget_pts)


def budget_reason(entry: dict[str, Any], budget_pts: float) -> str:
    """Why the verdict is what it is, in its own numbers: where the 95 % CI lies against −budget."""
    where = {MET: "lies wholly above", MISSED: "lies wholly below", CANNOT_TELL: "straddles"}
    return f"the {ci_text(entry)} {where[budget_verdict(entry, budget_pts)]} {MINUS}{budget_pts:g} pt"


def budget_clause(entry: dict[str, Any], budget_pts: float) -> str:
    """The verdict with its reason: `cannot tell with this test set (the 95 % CI −2.2 to +0.6 pt straddles −1 pt)`."""
    return f"{budget_verdict(entry, budget_pts)} ({budget_reason(entry, budget_pts)})"


def no_pair(sig: dict[str, Any] | None) -> str:
    """Why a difference has no paired CI: the run predates them, or this pair was not compared."""
    return NO_PAIRED if not sig else "no paired comparison of this pair in metrics.json, so this is a point estimate"


def resolving_sentence(sig: dict[str, Any]) -> str:
    """How many test images would resolve a `resolve_pts` difference at dense's measured error rate."""
    n = sig["test_images"]
    return (f"This test set has {n:,} images, so one image is {100 / n:.2f} pt; to resolve a {sig['resolve_pts']:g} pt "
            f"difference at dense's measured {sig['dense_error_pct']:.1f} % error rate (two-sided α = 0.05, 80 % power, "
            f"statsmodels' unpaired power for two proportions, conservative for paired models) would take "
            f"{sig['resolving_images']:,} test images.")


def collapse_sentences(sig: dict[str, Any]) -> list[str]:
    """One sentence per model whose int8 file scores more than `int8_collapse_pts` below its float twin,
    or one saying none did."""
    limit = sig.get("int8_collapse_pts", 2.0)
    collapsed = sig.get("int8_collapse") or []
    if not collapsed:
        checked = len(sig.get("int8_vs_float", {}))
        return [f"No int8 file scores more than {limit:g} pt below its float twin ({checked} pruned models checked)."]
    out = []
    for name in collapsed:
        e = sig["int8_vs_float"][name]
        out.append(f"int8 of {name} scores {e['b_pct']:.1f} % against {e['a_pct']:.1f} % for its float twin "
                   f"({signed(e['diff_pts'])} pt, {ci_text(e)}, McNemar p = {e['p_value']:.2g}): the int8 file is "
                   f"broken, not merely less precise (more than {limit:g} pt below float).")
    return out


def significance_blocks(metrics: dict[str, Any]) -> list[Any]:
    """The "How sure are these differences?" section: method, resolving size, int8 flags, then the table."""
    sig = metrics.get("significance")
    if not sig:
        return [f"This run's metrics.json has no paired comparisons (it is from before issue 26): every accuracy "
                f"difference in this report is a single-run point estimate without a confidence interval. Rerun "
                f"the evaluate stage to add them."]
    return [[METHOD, resolving_sentence(sig), *collapse_sentences(sig)], significance_rows(sig), *seed_blocks(metrics)]


# The headline models as the seeds name them → their column in the single-run comparisons.
SEED_MODELS = {"dense": "dense", "unstructured": "pruned", "channel": "channel", "stacked": "stacked",
               "uniform_width": "uniform_width"}


def seed_blocks(metrics: dict[str, Any]) -> list[Any]:
    """With `seeds` > 1: each headline model's accuracy over the seeds (mean ± sd, range) and its
    difference from the same seed's dense model, beside this run's paired 95 % CI; with one seed, the
    sentence saying how to measure the seed spread."""
    seeds, sig = metrics.get("seeds"), metrics.get("significance") or {}
    if not seeds:
        return ["One seed (`seeds: 1`): the intervals above cover which images are in the test set, not how much "
                "a retrain with another seed moves the accuracy. `seeds: 3` retrains the five headline models "
                "with two more seeds (docs/seeds.md)."]
    dense = seeds.get("dense", {}).get("per_seed", {})
    rows = []
    for name, column in SEED_MODELS.items():
        if name not in seeds:
            continue
        s = seeds[name]
        diffs = [s["per_seed"][seed] - dense[seed] for seed in s["per_seed"] if seed in dense]
        single = sig.get("against_dense", {}).get(column)
        rows.append({"model": name, "seeds": str(s["n"]),
                     "accuracy %, mean ± sd": f"{s['mean_pct']:.1f} ± {s['sd_pct']:.2f}" if s["sd_pct"] is not None
                     else f"{s['mean_pct']:.1f}",
                     "range %": f"{s['min_pct']:.1f} – {s['max_pct']:.1f}",
                     "vs same-seed dense, pts: mean [min, max]": "reference" if name == "dense" else
                     f"{statistics.fmean(diffs):+.1f} [{min(diffs):+.1f}, {max(diffs):+.1f}]",
                     "this run vs dense: 95 % CI": "reference" if name == "dense" else
                     "–" if single is None else f"{single['diff_pts']:+.1f} [{single['ci_low_pts']:+.1f}, "
                                                 f"{single['ci_high_pts']:+.1f}]"})
    n = max(s["n"] for s in seeds.values())
    return [[f"Seeds: the five headline models retrained with {n} seeds (the main run's and {n - 1} more, "
             "same data split and test images). The seed spread (range, and each model's difference from the "
             "dense model of the same seed) sits next to this run's paired 95 % CI, which covers only the choice "
             "of test images: a difference that flips sign across seeds is not a property of the method."],
            pd.DataFrame(rows)]


NO_CHANGE_PTS = 0.005  # a change below half a hundredth of a point prints as none


def change_wording(pts: float) -> str:
    """An accuracy change against dense, worded by its sign: `0.20 pts lost`, `+4.69 pts gained`."""
    if abs(pts) < NO_CHANGE_PTS:
        return "no accuracy change"
    return f"{-pts:.2f} pts lost" if pts < 0 else f"+{pts:.2f} pts gained"
