"""params.yaml as a whole: the top-level `Config` (its sections, the sweep points it implies and the
checks across sections), `config_digest`, and `parse_config` / `load_config` with their one-line
error messages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from pruneflow.config.dense import DataConfig, ModelConfig, TrainConfig
from pruneflow.config.families import family
from pruneflow.config.paths import FOLDERS, PathsConfig, _Section
from pruneflow.config.prune import BenchConfig, ExportConfig, PruneConfig, QuantizeConfig
from pruneflow.config.strict import Int
from pruneflow.config.studies import ChannelsConfig, SeedPoint, SensitivityConfig, SweepConfig, SweepPoint
from pruneflow.errors import PipelineError

MAX_SEED = 2**31 - 1


class Config(_Section):
    seed: Int = Field(42, ge=0, le=MAX_SEED)
    # The headline models are trained with this many seeds: `seed` (the main pipeline) and seed+1, ...
    # (one seed_run stage each); 1 keeps the cold run as it was.
    seeds: Int = Field(1, ge=1, le=100)
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

    def extra_seeds(self) -> tuple[SeedPoint, ...]:
        """The seeds beyond the main pipeline's, one `seed_run` stage each: seed+1 .. seed+seeds-1
        (none for `seeds: 1`), in DVC's matrix order."""
        return tuple(SeedPoint(self.seed + k) for k in range(1, self.seeds))

    def uniform_points(self) -> tuple[SweepPoint, ...]:
        """Every uniform point of the sweep table, the main prune's included, by sparsity then schedule."""
        main = self.main_point()
        points = (*self.sweep_points(), *((main,) if main else ()))
        return tuple(sorted(points, key=lambda point: (point.sparsity, point.schedule)))

    @model_validator(mode="after")
    def _sections_agree(self) -> Config:
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise ValueError(f"seeds={self.seeds} with seed={self.seed} reaches seed {self.seed + self.seeds - 1}; "
                             f"allowed: seed + seeds - 1 <= {MAX_SEED}")
        for name in (folder for folder in FOLDERS if folder != "flow_stamps"):
            folder = getattr(self.paths, name)
            if folder == self.data.folder or folder in self.data.folder.parents or self.data.folder in folder.parents:
                raise ValueError(f"paths.{name}={folder} overlaps data.folder={self.data.folder}; raw data is never overwritten")
        smallest = family(self.model.architecture).min_size
        if self.model.file is None and self.data.image_size < smallest:
            raise ValueError(f"data.image_size={self.data.image_size} is below {self.model.architecture}'s smallest "
                             f"input; set data.image_size: {smallest} or more")
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
