"""Stage 5 — pqat: pruning-preserving quantization-aware training of the stripped pruned model.

Post-training int8 (the export stage) rounds the pruned float weights once. PQAT instead fine-tunes
with int8 fake quantization in the graph while tfmot's `Default8BitPrunePreserveQuantizeScheme`
keeps every pruned weight at exactly zero, then converts to int8 TFLite. The files go to
`paths.pqat`; with `quantize.pqat: false` the folder only says so.
"""

from __future__ import annotations

import numpy as np

from tasks.config import Config
from tasks.export import PQAT_FORMATS, to_tflite, write_tflite
from tasks.ingest import load_split
from tasks.io import atomic_dir
from tasks.model import (
    EpochLog,
    compile_classifier,
    load_model,
    seed_everything,
    train_dataset,
)
from tasks.tf_env import keras, tfmot

quantize_api = tfmot.quantization.keras


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
    """
    seed_everything(cfg.seed)
    with quantize_api.quantize_scope({"OutputQuantizeConfig": OutputQuantizeConfig}):
        qat = quantize_api.quantize_apply(
            annotate_for_qat(pruned), tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        )
    compile_classifier(qat, cfg.quantize.pqat_learning_rate, cfg.train.weight_decay)
    qat.fit(
        train_dataset(*train, cfg.train.batch_size, cfg.train.augment, cfg.seed),
        validation_data=(val[0].astype(np.float32), val[1]),
        epochs=cfg.quantize.pqat_epochs,
        callbacks=list(callbacks),
        verbose=2,
    )
    return qat


def run(cfg: Config) -> None:
    """Edge: PQAT-fine-tune the stripped pruned model and write its int8 TFLite files to `paths.pqat`."""
    with atomic_dir(cfg.paths.pqat) as out:
        if not cfg.quantize.pqat:
            (out / "DISABLED").write_text("quantize.pqat is false in params.yaml\n")
            print("pqat: disabled (quantize.pqat: false)")
            return
        prepared = cfg.paths.prepared
        log = EpochLog(out / "pqat_epochs.csv")
        qat = pqat_model(load_model(cfg.paths.stripped_model), cfg, load_split(prepared, "train"),
                         load_split(prepared, "val"), [log])
        log.write()
        for fmt in PQAT_FORMATS:
            write_tflite(out, "pruned_pqat", fmt, to_tflite(qat, fmt))
        print(f"pqat: {sorted(p.name for p in out.iterdir())} → {cfg.paths.pqat}")
