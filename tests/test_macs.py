"""The MAC counter: exact on hand-computable models, and the published MobileNet numbers on Keras' own."""

from __future__ import annotations

import pytest

from pruneflow.models.macs import count_macs, count_params, per_layer_macs
from pruneflow.tf_env import keras


def _tiny() -> keras.Model:
    """Input 8x8x3 → Conv2D(4, 3x3) → DepthwiseConv2D(3x3) → GAP → Dense(5), all 'same' padding."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="fc")(x), name="tiny")


def test_tiny_model_counts_exactly_the_hand_computed_macs() -> None:
    conv = 8 * 8 * 4 * 3 * 3 * 3  # out_h*out_w*out_ch*in_ch*kh*kw = 6912
    dw = 8 * 8 * 4 * 1 * 3 * 3  # out_h*out_w*in_ch*depth_multiplier*kh*kw = 2304
    fc = 4 * 5  # in_units*out_units = 20
    model = _tiny()
    assert per_layer_macs(model) == {"conv": conv, "dw": dw, "fc": fc}  # bn and gap count 0
    assert count_macs(model) == conv + dw + fc == 9236


def test_strides_grouping_separable_and_rank3_dense_follow_their_formulas() -> None:
    inputs = keras.Input((10, 10, 8))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=2, name="grouped")(inputs)  # → 5x5x6
    x = keras.layers.SeparableConv2D(7, 3, depth_multiplier=2, padding="valid", name="sep")(x)  # → 3x3x7
    x = keras.layers.Reshape((9, 7))(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(x))
    assert per_layer_macs(model) == {
        "grouped": 5 * 5 * 6 * (8 // 2) * 3 * 3,  # 5400: each output channel sees in_ch/groups inputs
        "sep": 3 * 3 * 6 * 2 * 3 * 3 + 3 * 3 * (6 * 2) * 7,  # depthwise 972 + pointwise 756
        "fc": 9 * 7 * 2,  # 126: the same 7→2 matrix at each of the 9 positions
    }


def test_nested_model_is_counted_recursively_under_its_name() -> None:
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Dense(3, name="head")(_tiny()(inputs)))
    layers = per_layer_macs(outer)
    assert layers == {"tiny/conv": 6912, "tiny/dw": 2304, "tiny/fc": 20, "head": 5 * 3}
    assert count_macs(outer) == 9236 + 15


def test_mac_counter_reproduces_mobilenet_v2_published_300m_macs() -> None:
    # Sandler et al. 2018, Table 4: MobileNetV2 (1.0, 224) has 300 M MAdds and 3.4 M parameters.
    model = keras.applications.MobileNetV2(weights=None, alpha=1.0, input_shape=(224, 224, 3),
                                           classes=1000, include_top=True)
    assert count_macs(model) == pytest.approx(300e6, rel=0.01)  # 300,774,272
    # Keras' exact count (BatchNorm's moving statistics included), 4 % above the paper's 3.4 M.
    assert count_params(model) == 3_538_984


def test_mac_counter_reproduces_mobilenet_v1_published_569m_macs() -> None:
    # Howard et al. 2017, Table 4: 1.0 MobileNet-224 has 569 M Mult-Adds and 4.2 M parameters. Keras'
    # classifier is a 1x1 conv on the pooled 1x1x1024 map: the same 1,024,000 MACs as the paper's FC.
    model = keras.applications.MobileNet(weights=None, alpha=1.0, input_shape=(224, 224, 3),
                                         classes=1000, include_top=True)
    assert per_layer_macs(model)["conv_preds"] == 1024 * 1000
    assert count_macs(model) == pytest.approx(569e6, rel=0.01)  # 568,740,352
    assert count_params(model) == pytest.approx(4.2e6, rel=0.02)  # 4,253,864
