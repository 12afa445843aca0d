"""The keras.applications families `model.architecture` may name, and pruneflow's own `toy` (the
architecture for tests and smoke runs, `pruneflow.models.toy`), without importing TensorFlow (the config
checks names and input sizes against this table).

Each family says how its ImageNet weights expect pixels (`preprocess`), because the pipeline always
feeds raw 0–255 RGB and the model's first layers do the rest (so exported TFLite files take raw
pixels too):

- `builtin`: the family's own first layers scale (EfficientNet, EfficientNetV2, ConvNeXt, RegNet,
  ResNetRS and MobileNetV3 are built with `include_preprocessing`);
- `tf`: scaled to [-1, 1] (a Rescaling layer);
- `torch`: scaled to [0, 1], then the ImageNet mean and standard deviation (a Normalization layer);
- `caffe`: the ImageNet mean subtracted (a Normalization layer, RGB order). Keras' own caffe mode also
  swaps RGB to BGR; with ImageNet weights pruneflow reverses the first convolution's input channels
  instead, which computes the same function without a channel-swapping layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Preprocess = Literal["builtin", "tf", "torch", "caffe"]

# The names the first pruneflow releases used, kept as aliases.
ALIASES = {"mobilenet_v2": "MobileNetV2", "mobilenet": "MobileNet"}


@dataclass(frozen=True)
class Family:
    """One keras.applications constructor: its name, preprocessing, smallest input and width switch."""

    name: str
    preprocess: Preprocess
    min_size: int = 32
    has_alpha: bool = False  # takes a width multiplier `alpha` (the uniform-width baseline needs one)


def _family(name: str) -> Family | None:
    """The table entry for a keras.applications constructor name, or None if it is not one."""
    rules: tuple[tuple[str, Preprocess, int, bool], ...] = (
        (r"toy", "tf", 32, True),  # pruneflow.models.toy: the tests' and smoke runs' architecture, not a keras.applications one
        (r"MobileNet(V2)?", "tf", 32, True),
        (r"MobileNetV3(Small|Large)", "builtin", 32, True),
        (r"EfficientNet(B[0-7]|V2(B[0-3]|S|M|L))", "builtin", 32, False),
        (r"ConvNeXt(Tiny|Small|Base|Large|XLarge)", "builtin", 32, False),
        (r"RegNet[XY](002|004|006|008|016|032|040|064|080|120|160|320)", "builtin", 32, False),
        (r"ResNetRS(50|101|152|200|270|350|420)", "builtin", 32, False),
        (r"ResNet(50|101|152)V2", "tf", 32, False),
        (r"ResNet(50|101|152)", "caffe", 32, False),
        (r"VGG(16|19)", "caffe", 32, False),
        (r"DenseNet(121|169|201)", "torch", 32, False),
        (r"InceptionV3", "tf", 75, False),
        (r"InceptionResNetV2", "tf", 75, False),
        (r"Xception", "tf", 71, False),
        (r"NASNet(Mobile|Large)", "tf", 32, False),
    )
    for pattern, preprocess, min_size, has_alpha in rules:
        if re.fullmatch(pattern, name):
            return Family(name, preprocess, min_size, has_alpha)
    return None


def family(architecture: str) -> Family:
    """The family `model.architecture` names (an alias or a keras.applications constructor name).

    Raises:
        ValueError: an unknown name, with examples of valid ones.
    """
    found = _family(ALIASES.get(architecture, architecture))
    if found is None:
        near = [name for name in NAMES if name.lower() == architecture.lower().replace("_", "")]
        hint = f"did you mean {near[0]}? " if near else ""
        raise ValueError(f"{architecture!r} is not a keras.applications classifier; {hint}allowed: "
                         "mobilenet_v2, mobilenet, a tf_keras.applications name such as MobileNetV3Small, "
                         "EfficientNetB0, ResNet50, DenseNet121, ConvNeXtTiny, RegNetX002, or toy (tests and "
                         "smoke runs)")
    return found


# Every tf_keras.applications classifier constructor (tf_keras 2.21), for the "did you mean" hint;
# tests/test_own_model.py checks the table against the installed tf_keras.
NAMES = tuple(
    [f"ConvNeXt{s}" for s in ("Tiny", "Small", "Base", "Large", "XLarge")]
    + [f"DenseNet{n}" for n in (121, 169, 201)]
    + [f"EfficientNetB{n}" for n in range(8)] + [f"EfficientNetV2{s}" for s in ("B0", "B1", "B2", "B3", "S", "M", "L")]
    + ["InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
       "NASNetMobile", "NASNetLarge", "VGG16", "VGG19", "Xception"]
    + [f"RegNet{xy}{n}" for xy in "XY" for n in ("002", "004", "006", "008", "016", "032", "040", "064", "080",
                                                  "120", "160", "320")]
    + [f"ResNet{n}{v}" for n in (50, 101, 152) for v in ("", "V2")]
    + [f"ResNetRS{n}" for n in (50, 101, 152, 200, 270, 350, 420)]
)
