"""The studies around the main prune: `sweep` (uniform targets × schedules, and its `SweepPoint`s),
`sensitivity` (per-unit drops and the targets derived from them) and `channels` (structured channel
pruning, and its series' `ChannelPoint`s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from pruneflow.config.dense import MIN_IMAGE_SIZE
from pruneflow.config.paths import _Section
from pruneflow.config.strict import Bool, Float, Int

SPARSITY_RANGE = "0 < sparsity < 1"


def _sparsities(values: tuple[Float, ...], key: str) -> None:
    if not values or any(not 0.0 < v < 1.0 for v in values) or len(set(values)) != len(values):
        raise ValueError(f"{key}={list(values)}: allowed is a non-empty list of distinct sparsities, each {SPARSITY_RANGE}")


class SweepConfig(_Section):
    """Target sparsities (× schedules) pruned from the same dense model, and the accuracy budget."""

    sparsities: tuple[Float, ...] = (0.5, 0.95)
    schedules: tuple[Literal["polynomial", "constant"], ...] = ("polynomial",)
    # The report recommends the highest sparsity whose test accuracy is at most this many points
    # below the dense model's.
    accuracy_budget_pts: Float = Field(1.0, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _points_valid(self) -> SweepConfig:
        _sparsities(self.sparsities, "sparsities")
        if not self.schedules or len(set(self.schedules)) != len(self.schedules):
            raise ValueError(f"schedules={list(self.schedules)}: allowed is a non-empty list of distinct names from polynomial, constant")
        return self


@dataclass(frozen=True)
class SweepPoint:
    """One sweep run: a target sparsity and a schedule."""

    sparsity: float
    schedule: str

    @property
    def name(self) -> str:
        """`<sparsity>-<schedule>`: the suffix DVC's matrix gives the stage (`sweep_point@0.9-polynomial`)
        and the point's folder name."""
        return f"{self.sparsity}-{self.schedule}"


@dataclass(frozen=True)
class ChannelPoint:
    """One channel-series run: the kept fraction of every group."""

    keep: float

    @property
    def name(self) -> str:
        """The suffix DVC's matrix gives the stage (`channel_point@0.35`) and the point's folder name."""
        return f"{self.keep}"


@dataclass(frozen=True)
class SeedPoint:
    """One extra seed of the headline models (`seeds` > 1): the seed value they are retrained with."""

    seed: int

    @property
    def name(self) -> str:
        """The suffix DVC's matrix gives the stage (`seed_run@43`) and the seed's folder name."""
        return f"{self.seed}"


class SensitivityConfig(_Section):
    """Prune one unit at a time (one-shot, no fine-tune) and measure the validation accuracy drop."""

    unit: Literal["block", "layer"] = "block"
    sparsities: tuple[Float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    # Per-layer targets derived from the drops, at this overall sparsity of the prunable weights,
    # are fine-tuned like a sweep point and compared with the uniform sweep point at the same sparsity.
    derive: Bool = True
    target_sparsity: Float = Field(0.9, gt=0.0, lt=1.0)
    max_layer_sparsity: Float = Field(0.98, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _levels_valid(self) -> SensitivityConfig:
        _sparsities(self.sparsities, "sparsities")
        if self.target_sparsity > self.max_layer_sparsity:
            raise ValueError(f"target_sparsity={self.target_sparsity} must be <= max_layer_sparsity={self.max_layer_sparsity}")
        return self


class BudgetConfig(_Section):
    """A latency budget for channel pruning (`pruneflow.latency`): per-group widths chosen so that the
    table measured on this machine predicts the budget, in one format, thread count and input side."""

    latency_ms: Float | None = Field(None, gt=0.0, le=60_000.0)  # batch-1 p50 to meet, or ...
    speedup_x: Float | None = Field(None, gt=1.0, le=1000.0)     # ... this speed-up over dense in the same format
    format: Literal["float", "int8", "best"] = "int8"           # best: the faster format for the budgeted model
    threads: Int = Field(1, ge=1, le=256)
    resolution: Int | None = Field(None, ge=MIN_IMAGE_SIZE, le=512)  # input side; null: data.image_size
    # greedy: drop the channels that cost least importance per ms saved (NetAdapt/HALP-like); uniform: the
    # same kept fraction in every group, the largest that meets the budget (the comparison)
    allocation: Literal["greedy", "uniform"] = "greedy"

    @model_validator(mode="after")
    def _one_target(self) -> BudgetConfig:
        if (self.latency_ms is None) == (self.speedup_x is None):
            raise ValueError("give exactly one of latency_ms (> 0, a batch-1 p50 in ms) or speedup_x (> 1, over dense "
                             "in the same format), e.g. {speedup_x: 2.0, format: int8}")
        return self

    @property
    def name(self) -> str:
        """The budget's folder name: `int8-2.2x-greedy`, `best-0.3ms-uniform-t2-224px`."""
        target = f"{self.speedup_x}x" if self.speedup_x is not None else f"{self.latency_ms}ms"
        extra = (f"-t{self.threads}" if self.threads != 1 else "") + (f"-{self.resolution}px" if self.resolution else "")
        return f"{self.format}-{target}-{self.allocation}{extra}"


class ChannelsConfig(_Section):
    """Structured channel pruning: whole channels removed, the model rebuilt narrower (pruneflow.channels)."""

    keep: Float = Field(0.5, gt=0.0, le=1.0)           # fraction of each group's channels the main model keeps
    sweep_keeps: tuple[Float, ...] = (0.35,)            # other fractions: the sweep's channel series
    # internal: every channel group not tied by a residual Add; all: residual streams too
    scope: Literal["internal", "all"] = "all"
    criterion: Literal["l1", "l2", "bn_scale"] = "l2"
    multiple: Int = Field(16, ge=1, le=64)              # kept counts rounded to this multiple (docs/channels.md: measured)
    schedule: Literal["oneshot", "gradual"] = "oneshot"
    steps: Int = Field(3, ge=1, le=100)                 # gradual: prune in this many equal steps, fine-tuning between
    epochs: Int = Field(12, ge=1, le=1000)              # fine-tune epochs (gradual: over all steps) ...
    min_steps: Int = Field(400, ge=0, le=1_000_000)     # ... or more, to make this many steps (small datasets)
    learning_rate: Float = Field(2e-3, gt=0.0, le=1.0)
    stacked_sparsity: Float = Field(0.9, gt=0.0, lt=1.0)  # magnitude pruning of the channel-pruned model
    resolution: Int = Field(224, ge=MIN_IMAGE_SIZE, le=512)  # latency also at this input side (same weights)
    resolution_runs: Int = Field(100, ge=5, le=100_000)      # timed batch-1 rounds at that side
    # prune to a latency budget measured on this machine (stage channel_budget; None: off) and more
    # budgets (the sweep's budget series): the default is the int8 goal, the same budget by
    # uniform widths (the comparison at equal latency) and the float goal
    budget: BudgetConfig | None = BudgetConfig(speedup_x=2.2, format="int8")
    budget_series: tuple[BudgetConfig, ...] = (BudgetConfig(speedup_x=2.2, format="int8", allocation="uniform"),
                                               BudgetConfig(speedup_x=5.5, format="float"))

    def budgets(self) -> tuple[BudgetConfig, ...]:
        """The main budget, then the series (none without a main budget)."""
        return (self.budget, *self.budget_series) if self.budget is not None else ()

    @model_validator(mode="after")
    def _keeps_valid(self) -> ChannelsConfig:
        keeps = self.sweep_keeps
        if not keeps or any(not 0.0 < k <= 1.0 for k in keeps) or len(set(keeps)) != len(keeps):
            raise ValueError(f"sweep_keeps={list(keeps)}: allowed is a non-empty list of distinct fractions, each 0 < keep <= 1")
        if self.keep in keeps:
            raise ValueError(f"sweep_keeps={list(keeps)} repeats keep={self.keep}: the main channel-pruned model is "
                             f"already the series' point at that fraction; remove {self.keep} from sweep_keeps")
        if self.budget is None and self.budget_series:
            raise ValueError("budget_series needs a main budget: set channels.budget too, e.g. {speedup_x: 2.0, format: int8}")
        names = [budget.name for budget in self.budgets()]
        if len(set(names)) != len(names):
            raise ValueError(f"budgets repeat: {names}; each budget in budget and budget_series must differ")
        if self.schedule == "gradual" and self.steps > self.epochs:
            raise ValueError(f"steps={self.steps} must be <= epochs={self.epochs} (each step fine-tunes at least one epoch)")
        return self
