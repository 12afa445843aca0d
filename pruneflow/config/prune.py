"""The sections that shrink the dense model and measure it: `prune` (the main magnitude prune and its
schedule), `quantize`, `export` (the TFLite variants) and `bench` (their latency benchmark)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pruneflow.config.paths import _Section
from pruneflow.config.strict import Bool, Float, Int

# The pruning phase (prune.end - prune.begin) spans at least this share of the fine-tune, and the
# fine-tune at least MIN_FINE_TUNE_STEPS steps: so it always holds at least 2 steps to prune in.
MIN_PRUNING_SHARE = 0.1
MIN_FINE_TUNE_STEPS = 20


class PruneConfig(_Section):
    scope: Literal["all", "head"] = "all"
    initial_sparsity: Float = Field(0.0, ge=0.0, lt=1.0)
    final_sparsity: Float = Field(0.9, ge=0.0, lt=1.0)
    # The schedule in the fine-tune's own terms: pruning starts at `begin` and reaches final_sparsity
    # at `end`, both fractions of the fine-tune's steps; the rest recovers at constant sparsity.
    begin: Float = Field(0.0, ge=0.0, lt=1.0)
    end: Float = Field(0.5, gt=0.0, le=1.0)
    # Steps between mask updates; null: derived (10 updates over the pruning phase, at most one epoch apart).
    frequency: Int | None = Field(None, ge=1)
    # The fine-tune runs `epochs`, or more when that is fewer than `min_steps` optimizer steps: small
    # datasets have few steps per epoch and need the steps, not the epochs, to recover (docs/own-data.md).
    epochs: Int = Field(8, ge=1, le=1000)
    min_steps: Int = Field(400, ge=MIN_FINE_TUNE_STEPS, le=1_000_000)
    learning_rate: Float = Field(2e-3, gt=0.0, le=1.0)
    # polynomial: tfmot PolynomialDecay (cubic: prunes fast early, gently near the target);
    # constant: ConstantSparsity (the target from `begin` on, re-masked every `frequency` steps).
    schedule: Literal["polynomial", "constant"] = "polynomial"
    # Structured options. m_by_n [2, 4]: 2 zeros in every 4 consecutive input-channel weights of each
    # Conv2D/Dense kernel (the schedule then only times the switch; sparsity is m/n). policy xnnpack:
    # tfmot's PruneForLatencyOnXNNPack, which prunes only the 1x1 convolutions (needs model.form xnnpack).
    sparsity_m_by_n: tuple[Int, Int] | None = None
    policy: Literal["none", "xnnpack"] = "none"

    @model_validator(mode="after")
    def _schedule_ordered(self) -> PruneConfig:
        if self.sparsity_m_by_n is not None:
            m, n = self.sparsity_m_by_n
            if not 0 < m < n <= 64:
                raise ValueError(f"sparsity_m_by_n={list(self.sparsity_m_by_n)}: allowed is [m, n] with 0 < m < n <= 64, e.g. [2, 4]")
            if self.policy != "none":
                raise ValueError("sparsity_m_by_n and policy xnnpack cannot be combined; choose one")
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError(
                f"initial_sparsity={self.initial_sparsity} must be <= final_sparsity={self.final_sparsity}"
            )
        if self.end - self.begin < MIN_PRUNING_SHARE - 1e-9:
            latest = round(self.end - MIN_PRUNING_SHARE, 4)
            hint = f"begin <= {latest}" if latest >= 0 else f"end >= {round(self.begin + MIN_PRUNING_SHARE, 4)}"
            raise ValueError(f"begin={self.begin}, end={self.end}: pruning needs at least {MIN_PRUNING_SHARE} "
                             f"of the fine-tune between them; allowed: {hint}")
        return self


TFLITE_FORMATS = ("float", "dynamic_range", "int8", "sparse", "sparse_int8")


class QuantizeConfig(_Section):
    """Post-training quantization inputs and pruning-preserving quantization-aware training (PQAT)."""

    representative_samples: Int = Field(200, ge=1, le=100_000)  # train images that calibrate int8
    pqat: Bool = True
    pqat_epochs: Int = Field(2, ge=1, le=1000)
    pqat_learning_rate: Float = Field(1e-4, gt=0.0, le=1.0)


class ExportConfig(_Section):
    # TFLite variants written for the dense and the pruned model ("float" is always written).
    formats: tuple[Literal["float", "dynamic_range", "int8", "sparse", "sparse_int8"], ...] = TFLITE_FORMATS

    @model_validator(mode="after")
    def _float_first(self) -> ExportConfig:
        if len(set(self.formats)) != len(self.formats):
            raise ValueError(f"formats={list(self.formats)}: each format at most once")
        if "float" not in self.formats:
            raise ValueError(f"formats={list(self.formats)}: must include float (the baseline every ratio uses)")
        return self


class BenchConfig(_Section):
    """The latency benchmark: every TFLite variant, interleaved in one process."""

    warmup: Int = Field(50, ge=0, le=100_000)
    runs: Int = Field(1000, ge=5, le=1_000_000)          # timed batch-1 invokes per variant and thread count
    batch: Int = Field(32, ge=2, le=4096)               # throughput batch size
    batch_warmup: Int = Field(3, ge=0, le=10_000)
    batch_runs: Int = Field(50, ge=3, le=100_000)
    threads: tuple[Int, ...] = (1, 2)

    @model_validator(mode="after")
    def _threads_valid(self) -> BenchConfig:
        if not self.threads or any(not 1 <= t <= 64 for t in self.threads) or len(set(self.threads)) != len(self.threads):
            raise ValueError(f"threads={list(self.threads)}: allowed is a list of distinct thread counts in 1..64")
        return self
