"""Which levers make the default run's training cheaper? One variant per process, same data and model.

The default run's dense recipe (params.yaml: MobileNetV2 α 1.0 at 48 px, batch 64, the augmentation)
on the default data, for a few epochs, under each lever, in a fresh process each (so a lever such as
op determinism cannot leak into the next variant):

- `baseline`: the pipeline as it runs (op determinism on, tf.data with augmentation in `map`);
- `no_determinism`: `tf.config.experimental.enable_op_determinism()` left off;
- `xla`: the train step compiled by XLA (`jit_compile=True`);
- `input_only`: the tf.data pipeline alone, iterated for an epoch without a model: what the input
  costs when nothing else runs.

It prints the median epoch seconds after the first (the first traces the step), the CPU seconds per
wall second (how many of the cores the process kept busy) and the final validation accuracy.

    .venv/bin/python benchmarks/training_levers.py --epochs 3   # ~5 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

VARIANTS = ("baseline", "no_determinism", "xla", "input_only")


def measure(variant: str, epochs: int) -> dict:
    """One variant, in this process."""
    import numpy as np

    from pruneflow.config.params import load_config
    from pruneflow.models.data import load_split
    from pruneflow.models.classifier import build_classifier
    from pruneflow.models.fit import EpochLog, compile_classifier, seed_everything, train_dataset
    from pruneflow.tf_env import keras, tf

    cfg = load_config("params.yaml")
    train = load_split(cfg.paths.prepared, "train")
    val = load_split(cfg.paths.prepared, "val")
    keras.utils.set_random_seed(cfg.seed)
    if variant != "no_determinism":
        seed_everything(cfg.seed)
    ds = train_dataset(*train, cfg.train.batch_size, cfg.train.augment, cfg.seed)
    cpu, wall = time.process_time(), time.perf_counter()
    if variant == "input_only":
        seconds = []
        for _ in range(epochs):
            start = time.perf_counter()
            for _batch in ds:
                pass
            seconds.append(time.perf_counter() - start)
        return {"variant": variant, "epoch_seconds": seconds, "median_after_first_s": float(np.median(seconds[1:])),
                "cpu_per_wall": (time.process_time() - cpu) / (time.perf_counter() - wall)}
    model = build_classifier(cfg.model, 10, cfg.data.image_size)
    compile_classifier(model, cfg.train.learning_rate, cfg.train.weight_decay)
    if variant == "xla":
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], jit_compile=True)
    log = EpochLog(cfg.paths.train_log)
    model.fit(ds, validation_data=(val[0].astype(np.float32), val[1]), epochs=epochs, callbacks=[log], verbose=0)
    return {"variant": variant, "epoch_seconds": log.seconds, "median_after_first_s": float(np.median(log.seconds[1:])),
            "cpu_per_wall": (time.process_time() - cpu) / (time.perf_counter() - wall),
            "val_accuracy": log.rows[-1]["val_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant here (the driver's child)")
    parser.add_argument("--only", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.epochs)))
        return
    for variant in args.only:
        done = subprocess.run([sys.executable, __file__, "--variant", variant, "--epochs", str(args.epochs)],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print(lines[-1] if lines else f"{variant}: failed\n{done.stderr[-2000:]}", flush=True)


if __name__ == "__main__":
    main()
