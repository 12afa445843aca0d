"""PQAT: pruning-preserving quantization-aware training of the stripped pruned model (stage pqat).

Post-training int8 (the export stage) rounds the pruned float weights once. PQAT instead fine-tunes
with int8 fake quantization in the graph while tfmot's `Default8BitPrunePreserveQuantizeScheme`
keeps every pruned weight at exactly zero, then converts to int8 TFLite. The files go to
`paths.pqat`; with `quantize.pqat: false` the folder only says so.
"""

from __future__ import annotations

import numpy as np

from pruneflow.config.params import Config
from pruneflow.models.fit import compile_classifier, fit, seed_everything
from pruneflow.tf_env import keras, tfmot

quantize_api = tfmot.quantization.keras


class PqatNotApplicable(Exception):
    """tfmot's QAT cannot annotate the model; the message says which layer."""


class OutputQuantizeConfig(quantize_api.QuantizeConfig):
    """Quantize only a layer's output: for the weightless input Rescaling, which tfmot's default
    8-bit registry does not know (it would otherwise refuse the model)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [quantize_api.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                               narrow_range=False)]

    def get_config(self):
        return {}


def annotate_for_qat(model: keras.Model) -> keras.Model:
    """Annotate every layer for 8-bit QAT; the Rescaling layer gets an output-only config."""

    def annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        if isinstance(layer, keras.layers.Rescaling):
            return quantize_api.quantize_annotate_layer(layer, quantize_config=OutputQuantizeConfig())
        return quantize_api.quantize_annotate_layer(layer)

    return keras.models.clone_model(model, clone_function=annotate)


def pqat_model(pruned: keras.Model, cfg: Config, train: tuple[np.ndarray, np.ndarray],
               val: tuple[np.ndarray, np.ndarray], callbacks: list[keras.callbacks.Callback] = ()) -> keras.Model:
    """Quantization-aware fine-tune that keeps the pruned zeros.

    Args:
        pruned: the stripped pruned model (its zeros define the masks PQAT preserves).
        cfg: `quantize.pqat_epochs`/`pqat_learning_rate`, train batch size, augmentation, seed.
        train: images and labels to fine-tune on.
        val: images and labels for the per-epoch validation score.
        callbacks: extra loggers.

    Returns:
        The quantization-aware model (fake-quant layers; convert it with `to_tflite`).

    Raises:
        PqatNotApplicable: tfmot's 8-bit QAT registry has no config for one of the model's layers
            (keras.applications families beyond MobileNet: TFOpLambda, LayerNormalization, ...).
    """
    seed_everything(cfg.seed)
    try:
        with quantize_api.quantize_scope({"OutputQuantizeConfig": OutputQuantizeConfig}):
            qat = quantize_api.quantize_apply(
                annotate_for_qat(pruned), tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
            )
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:  # tfmot's refusals have no common base
        # tfmot's first line names the layer and the way out (a QuantizeConfig): kept whole, never cut mid-word
        raise PqatNotApplicable(f"tfmot's QAT refuses this model ({(str(exc).splitlines() or [''])[0]})") from None
    compile_classifier(qat, cfg.quantize.pqat_learning_rate, cfg.train.weight_decay)
    fit(qat, train, val, cfg.train, cfg.seed, cfg.quantize.pqat_epochs, callbacks)
    return qat


