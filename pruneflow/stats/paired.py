"""Paired significance of an accuracy difference between two classifiers scored on the SAME test images.

Every accuracy difference the project reports (dense vs pruned, greedy vs uniform, ...) carries a paired
95 % confidence interval and an exact McNemar p-value, and every verdict is one of "met", "missed" or
"cannot tell with this test set". Pairing matters: both models answer the same 500 images, so only the
images on which they disagree (the discordant pairs) carry information about the difference; an unpaired
interval (Newcombe's, as `pruneflow.report.budget.difference_interval` uses when per-image predictions
are not stored) counts the shared hard images twice and is wider than it needs to be.

Choices, and why:

- **Interval: paired percentile bootstrap over images** (`scipy.stats.bootstrap`, `method="percentile"`,
  `N_RESAMPLES` = 10 000 resamples, a fixed `SEED`). Resampling images and taking
  mean(right_b) − mean(right_a) is the same as resampling the per-image difference
  d_i = right_b − right_a ∈ {−1, 0, +1} and taking its mean, so scipy bootstraps d (one sample) rather
  than two paired samples: same resamples, half the work. It is the method the issue quoted (500 images,
  8 lost and 4 won: −2.2 to +0.6 pt, which this module reproduces), and it agrees with Agresti's paired
  Wald interval on his presidential-approval table to within 0.1 pt (tests/test_significance.py).
  Not BCa: on {−1, 0, +1} data its jackknife acceleration is 0/0 when the models never disagree (scipy
  returns NaN with a DegenerateDataWarning), and with one discordant image out of 500 it widened the
  interval to −1.2 pt where percentile gives −0.6 (measured, scipy 1.17.1). Not a closed form (Tango,
  Newcombe's paired method): statsmodels, which the issue named as the source of building blocks, is not
  installed, and those would be hand-written score inversions.
  Determinism: the generator is seeded per call (`numpy.random.default_rng(SEED)`), the resampling
  batch is a function of n only, and d is sorted before resampling, so the interval depends only on
  (n, a_only, b_only) — not on image order, which would otherwise move an end by a lattice step — and the
  same inputs give bit-identical floats on the pinned numpy/scipy. The endpoints are quantiles of a
  discrete distribution on the lattice k/n (0.2 pt on 500 images): a different seed can move an end by
  one lattice step (measured: 35 of 40 seeds give −2.2 to +0.6 on the issue's case, 5 give −2.2 to
  +0.4). Speed: about 0.03 s per comparison on 500 images.
  Known limit: when the two models never disagree, the bootstrap sees no variability and the interval is
  [0, 0]; the McNemar p is then 1 and no difference is ever called real.
- **McNemar: exact (conditional binomial) two-sided test** on the discordant pairs,
  `statsmodels.stats.contingency_tables.mcnemar(table, exact=True)`: under "no difference", each
  discordant image is a fair coin between the two models. No discordant pairs: p = 1 (nothing to test).
- **"Differs" rule: the interval excludes zero AND McNemar p < 1 − confidence.** The two are different
  procedures and can disagree at the margin (9 lost, 2 won on 500 images: interval −2.8 to −0.2, exact
  p = 0.065). Requiring both means a sentence never calls a difference real while one of its own printed
  numbers says otherwise; `describe` names the disagreement instead of hiding it.
- **Goal verdicts use the interval alone**: "b loses at most budget_pts" is met when the whole interval
  is >= −budget_pts, missed when the whole interval is below it, otherwise the test set cannot tell.
- **Resolving size: unpaired power for two proportions**: `statsmodels.stats.power.NormalIndPower`
  on Cohen's arcsine effect size (`statsmodels.stats.proportion.proportion_effectsize`), alpha 0.05,
  power 0.8, equal sizes; it reproduces Cohen (1988) Table 6.4.1 (h = 0.2 → 392 per group). It is the
  unpaired size: two models that err on mostly the same images need fewer paired images, so as a
  test-set size it is conservative. A paired (McNemar) size would need the discordance rate, which an
  error rate alone does not give.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

CONFIDENCE = 0.95
N_RESAMPLES = 10_000
SEED = 20_240_501
# Caps one bootstrap batch at about this many resampled values (int8), so 10 000 resamples of a large
# test set do not build a 10 000 × n matrix at once.
BATCH_VALUES = 8_000_000

MET, MISSED, CANNOT_TELL = "met", "missed", "cannot tell with this test set"
MINUS = "\u2212"  # the typographic minus the report's sentences use


@dataclass(frozen=True)
class Paired:
    """Two classifiers compared on the same n images; every difference in percentage points (b − a)."""

    n: int  # images
    a_pct: float  # accuracy of the reference model (e.g. dense), percent
    b_pct: float  # accuracy of the compared model, percent
    diff_pts: float  # b_pct - a_pct, percentage points
    ci_low_pts: float  # paired CI of diff_pts at `confidence`, percentage points
    ci_high_pts: float
    p_value: float  # exact (binomial) McNemar two-sided p on the discordant pairs
    a_only: int  # images a gets right and b gets wrong
    b_only: int  # images b gets right and a gets wrong
    confidence: float = CONFIDENCE

    def ci_excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero."""
        return self.ci_low_pts > 0 or self.ci_high_pts < 0

    def differs(self) -> bool:
        """A real difference: the interval excludes zero and McNemar p < 1 − confidence (both must agree)."""
        return self.ci_excludes_zero() and self.p_value < 1 - self.confidence

    def as_dict(self) -> dict[str, Any]:
        """Plain ints and rounded floats for a JSON metrics file: identical across runs on the same inputs."""
        out: dict[str, Any] = asdict(self)
        for key in ("a_pct", "b_pct", "diff_pts", "ci_low_pts", "ci_high_pts"):
            out[key] = round(float(out[key]), 4) + 0.0  # + 0.0 turns −0.0 into 0.0
        out["p_value"] = float(f"{self.p_value:.4g}")
        out["n"], out["a_only"], out["b_only"] = int(self.n), int(self.a_only), int(self.b_only)
        out["differs"] = self.differs()
        return out


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def paired(y_true: Sequence[Any], pred_a: Sequence[Any], pred_b: Sequence[Any],
           confidence: float = CONFIDENCE) -> Paired:
    """Compare two classifiers' predicted labels on the same images.

    Args:
        y_true: the true label of each image.
        pred_a: the reference model's predicted label of each image (e.g. dense).
        pred_b: the compared model's predicted label of each image, in the same image order.
        confidence: the interval's coverage.

    Returns:
        The paired comparison (b − a).

    Raises:
        ValueError: the three inputs differ in length, are empty or not one label per image.
    """
    arrays = {name: np.asarray(v) for name, v in (("y_true", y_true), ("pred_a", pred_a), ("pred_b", pred_b))}
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise ValueError(f"{name} must hold one label per image (1-D), got shape {arr.shape}")
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError("y_true, pred_a and pred_b must cover the same images, got lengths "
                         + ", ".join(f"{name}={k}" for name, k in lengths.items()))
    y = arrays["y_true"]
    return paired_correct(arrays["pred_a"] == y, arrays["pred_b"] == y, confidence)


def paired_correct(right_a: Sequence[bool], right_b: Sequence[bool], confidence: float = CONFIDENCE) -> Paired:
    """Compare two classifiers from whether each got each image right (the core of `paired`).

    Args:
        right_a: per image, whether the reference model got it right.
        right_b: per image, whether the compared model got it right, in the same image order.
        confidence: the interval's coverage.

    Returns:
        The paired comparison (b − a).

    Raises:
        ValueError: the lengths differ, no images, or confidence outside (0, 1).
    """
    _check_confidence(confidence)
    a, b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(f"right_a and right_b must be 1-D over the same images, got shapes {a.shape} and {b.shape}")
    n = len(a)
    if n == 0:
        raise ValueError("no images to compare")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    # Sorted: the statistic ignores order, and a canonical order makes the seeded interval depend only on
    # the counts, not on where in the test split the disagreements sit.
    low, high = _bootstrap_interval(np.sort(b.astype(np.int8) - a.astype(np.int8)), confidence)
    a_pct, b_pct = 100 * int(a.sum()) / n, 100 * int(b.sum()) / n
    return Paired(n=n, a_pct=a_pct, b_pct=b_pct, diff_pts=100 * (b_only - a_only) / n,
                  ci_low_pts=100 * low, ci_high_pts=100 * high, p_value=mcnemar_exact_p(a_only, b_only),
                  a_only=a_only, b_only=b_only, confidence=confidence)


def _bootstrap_interval(d: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(d) over images (a fraction, not points); seeded, repeatable."""
    if not d.any():
        # The models never disagree: every resample's mean is 0 (scipy would return the same, but the
        # shortcut states it and skips 10 000 resamples).
        return 0.0, 0.0
    res = stats.bootstrap((d,), np.mean, vectorized=True, n_resamples=N_RESAMPLES,
                          batch=max(1, BATCH_VALUES // len(d)), confidence_level=confidence,
                          method="percentile", rng=np.random.default_rng(SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: the binomial test of b_only out of the discordant pairs at 0.5.

    Args:
        a_only: images only the reference model gets right.
        b_only: images only the compared model gets right.

    Returns:
        The p-value; 1.0 when there are no discordant pairs.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"discordant counts must be >= 0, got a_only={a_only}, b_only={b_only}")
    if a_only + b_only == 0:
        return 1.0
    return float(mcnemar([[0, a_only], [b_only, 0]], exact=True).pvalue)


def drop_verdict(p: Paired, budget_pts: float) -> str:
    """Whether b loses at most `budget_pts` against a, judged by the whole interval.

    Args:
        p: the paired comparison (b − a).
        budget_pts: the largest acceptable loss, percentage points (>= 0).

    Returns:
        "met" when the whole interval is >= −budget_pts, "missed" when the whole interval is below it,
        otherwise "cannot tell with this test set".
    """
    if not (budget_pts >= 0 and math.isfinite(budget_pts)):
        raise ValueError(f"budget_pts must be a finite loss >= 0, got {budget_pts}")
    if p.ci_low_pts >= -budget_pts:
        return MET
    if p.ci_high_pts < -budget_pts:
        return MISSED
    return CANNOT_TELL


def _signed(x: float) -> str:
    """One decimal with an explicit sign and a typographic minus; a value that rounds to zero is "0.0"."""
    r = round(x, 1) + 0.0
    return "0.0" if r == 0 else f"{r:+.1f}".replace("-", MINUS)


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def describe(p: Paired) -> str:
    """One sentence for a report: the difference, its interval, McNemar's p and what they allow one to say.

    Args:
        p: the paired comparison (b − a).

    Returns:
        E.g. "−0.8 pt (95 % CI −2.2 to +0.6, McNemar p = 0.39): not distinguishable from no change on
        500 images".
    """
    share = f"{100 * p.confidence:g} %"
    head = (f"{_signed(p.diff_pts)} pt ({share} CI {_signed(p.ci_low_pts)} to {_signed(p.ci_high_pts)}, "
            f"McNemar {_p_text(p.p_value)})")
    if p.differs():
        return f"{head}: {'a real gain' if p.diff_pts > 0 else 'a real loss'}"
    if p.ci_excludes_zero() or p.p_value < 1 - p.confidence:
        return (f"{head}: borderline on {p.n} images, the interval and McNemar's test disagree, "
                f"so not called a real difference")
    return f"{head}: not distinguishable from no change on {p.n} images"


def resolving_size(error_rate: float, diff_pts: float = 0.5, alpha: float = 1 - CONFIDENCE,
                   power: float = 0.8) -> int:
    """Test-set size that would resolve a loss of `diff_pts` from a model with the measured error rate.

    Unpaired (conservative for two models that err on mostly the same images); see the module docstring.

    Args:
        error_rate: the reference model's measured error rate, a fraction in (0, 1).
        diff_pts: the loss to resolve, percentage points (> 0).
        alpha: two-sided significance level.
        power: probability of detecting the loss.

    Returns:
        The number of test images, rounded up.
    """
    if not 0 < error_rate < 1:
        raise ValueError(f"error_rate must be a fraction in (0, 1), got {error_rate}")
    if not diff_pts > 0:
        raise ValueError(f"diff_pts must be > 0, got {diff_pts}")
    accuracy = 1 - error_rate
    if accuracy - diff_pts / 100 <= 0:
        raise ValueError(f"a loss of {diff_pts} pt from accuracy {100 * accuracy:g} % leaves no accuracy")
    effect = proportion_effectsize(accuracy, accuracy - diff_pts / 100)  # Cohen's h
    return math.ceil(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))
