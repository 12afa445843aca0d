"""The keras.applications classifier zoo: 18 families, each built the one way channel pruning and its
coverage tool meet them — the family's convolutional base (`include_top=False`, random weights: there
is no network) under the project's head, GlobalAveragePooling2D → Dense(classes, softmax).

The base is built on the head's input tensor (`input_tensor=`), so the classifier is one flat
functional model, as `pruneflow.models.classifier.build_classifier` builds it; `nested=True` instead calls the base
as one layer (`efficientnetb0 (Functional)` → pooling → Dense, the shape tfmot #656 reports), for
`pruneflow.models.flatten`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pruneflow.config import families
from pruneflow.errors import PipelineError
from pruneflow.tf_env import keras

apps = keras.applications


@dataclass(frozen=True)
class ZooEntry:
    """One family of the zoo: its constructor and the layers that make it a test of the pruner. What
    the family is (preprocessing, smallest input side, width switch) is `pruneflow.config.families.Family`,
    the one table of families; an entry outside that table (a test's own constructor) names its side."""

    build: Callable[..., keras.Model]
    notes: str
    side: int | None = None  # smallest input side of an entry outside the families table

    def min_size(self, name: str) -> int:
        """The smallest square input side the constructor accepts."""
        return self.side if self.side is not None else families.family(name).min_size


FAMILIES: dict[str, ZooEntry] = {
    "MobileNet": ZooEntry(apps.MobileNet, "depthwise + pointwise, ReLU6, Dropout-free base"),
    "MobileNetV2": ZooEntry(apps.MobileNetV2, "inverted residuals: Add-coupled streams"),
    "MobileNetV3Small": ZooEntry(apps.MobileNetV3Small,
                               "Rescaling preprocessing, SE Reshape+Multiply, hard-swish TFOpLambda arithmetic"),
    "MobileNetV3Large": ZooEntry(apps.MobileNetV3Large, "as MobileNetV3Small, deeper"),
    "ResNet50": ZooEntry(apps.ResNet50, "bottleneck residuals, projection shortcuts"),
    "ResNet50V2": ZooEntry(apps.ResNet50V2, "pre-activation BN before the shortcut split, MaxPooling shortcut"),
    "ResNetRS50": ZooEntry(apps.ResNetRS50, "Normalization preprocessing, SE blocks, AveragePooling shortcut"),
    "DenseNet121": ZooEntry(apps.DenseNet121, "Concatenate chains: channels pruned inside concatenations"),
    "InceptionV3": ZooEntry(apps.InceptionV3, "multi-branch Concatenate"),
    "InceptionResNetV2": ZooEntry(apps.InceptionResNetV2, "Concatenate + CustomScaleLayer scaled residuals"),
    "Xception": ZooEntry(apps.Xception, "SeparableConv2D, Add residuals"),
    "NASNetMobile": ZooEntry(apps.NASNetMobile,
                           "Cropping/padding, SeparableConv2D, Add + Concatenate cells"),
    "VGG16": ZooEntry(apps.VGG16, "plain conv stack"),
    "EfficientNetB0": ZooEntry(apps.EfficientNetB0, "Rescaling + Normalization, SE, StochasticDepth-free Dropout"),
    "EfficientNetV2B0": ZooEntry(apps.EfficientNetV2B0, "fused MBConv, SE, Dropout with noise_shape"),
    "ConvNeXtTiny": ZooEntry(apps.ConvNeXtTiny,
                           "depthwise-as-grouped conv, LayerNormalization, Dense on 4-D maps, LayerScale"),
    "RegNetX002": ZooEntry(apps.RegNetX002, "grouped convs (group width 8)"),
    "RegNetY002": ZooEntry(apps.RegNetY002, "grouped convs + SE"),
}


def min_size(name: str) -> int:
    """The smallest square input side `name`'s constructor accepts."""
    return _family(name).min_size(name)


def _family(name: str) -> ZooEntry:
    if name not in FAMILIES:
        raise PipelineError(f"zoo: unknown family {name!r}; allowed: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_family(name: str, image_size: int, num_classes: int = 10, nested: bool = False,
                 head_activation: str | None = "softmax") -> keras.Model:
    """The family's base (random weights) under GlobalAveragePooling2D → Dense(num_classes, softmax).

    Args:
        name: a key of FAMILIES.
        image_size: square input side, at least `min_size(name)`.
        num_classes: size of the softmax.
        nested: call the base as one layer (a nested model) instead of building it on the input.
        head_activation: the last Dense layer's activation (None: logits, which compare more
            sharply than probabilities).

    Returns:
        An uncompiled Keras 2 model named `<name>_classifier`.
    """
    family = _family(name)
    if image_size < min_size(name):
        raise PipelineError(f"zoo: image_size={image_size} for {name}; allowed: >= {min_size(name)}")
    shape = (image_size, image_size, 3)
    inputs = keras.Input(shape, name="image")
    if nested:
        base = family.build(include_top=False, weights=None, input_shape=shape)
        features = base(inputs)
    else:
        features = family.build(include_top=False, weights=None, input_tensor=inputs).output
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    outputs = keras.layers.Dense(num_classes, activation=head_activation, name="head_logits")(pooled)
    return keras.Model(inputs, outputs, name=f"{name}_classifier")


def randomise_statistics(model: keras.Model, seed: int = 0) -> keras.Model:
    """Non-trivial per-channel state, so a wrongly sliced layer changes the output: BatchNorm gamma,
    beta and moving statistics (whichever the layer has), ConvNeXt's LayerScale gamma (initialised to
    1e-6, which hides every block). Returns `model`, changed in place."""
    rng = np.random.default_rng(seed)
    draws = {"gamma": lambda s: rng.uniform(0.5, 1.5, s), "beta": lambda s: rng.normal(0, 0.2, s),
             "moving_mean": lambda s: rng.normal(0, 0.2, s), "moving_variance": lambda s: rng.uniform(0.5, 1.5, s)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) or type(layer).__name__ == "LayerScale":
            for weight in layer.weights:
                short = weight.name.split("/")[-1].split(":")[0]
                if short in draws:
                    weight.assign(draws[short](weight.shape).astype(np.float32))
    return model
