"""The studies around the main prune: `sweep` (uniform targets × schedules, and its `SweepPoint`s),
`sensitivity` (per-unit drops and the targets derived from them) and `channels` (structured channel
pruning, and its series' `ChannelPoint`s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from pruneflow.config.dense import MIN_IMAGE_SIZE
from pruneflow.config.strict import Bool, Float, Int
from pruneflow.paths import _Section

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

    @model_validator(mode="after")
    def _keeps_valid(self) -> ChannelsConfig:
        keeps = self.sweep_keeps
        if not keeps or any(not 0.0 < k <= 1.0 for k in keeps) or len(set(keeps)) != len(keeps):
            raise ValueError(f"sweep_keeps={list(keeps)}: allowed is a non-empty list of distinct fractions, each 0 < keep <= 1")
        if self.keep in keeps:
            raise ValueError(f"sweep_keeps={list(keeps)} repeats keep={self.keep}: the main channel-pruned model is "
                             f"already the series' point at that fraction; remove {self.keep} from sweep_keeps")
        if self.schedule == "gradual" and self.steps > self.epochs:
            raise ValueError(f"steps={self.steps} must be <= epochs={self.epochs} (each step fine-tunes at least one epoch)")
        return self
