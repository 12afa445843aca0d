"""Which channel multiple do TFLite's CPU kernels prefer when a pruner rounds kept channel counts?

Sweeps the expansion width C of one MobileNetV2 inverted residual (1x1 expand to C, 3x3 depthwise,
1x1 project back to 48, on a 12x12x48 map) over every C in a range, converts each block to float32
and to full-int8 TFLite, and times batch-1 invokes on one thread with ai-edge-litert (XNNPACK). All
models run interleaved in one process (pruneflow.deploy.benchmark.interleaved_ms): each round invokes every
model once in a shuffled order, so a noisy neighbour slows them all alike.

If the kernels pack channels in tiles of m, time is a step function of C: every C up to the next
multiple of m costs as much as that multiple, and a pruner loses nothing by rounding *up* to m (and
gains nothing by cutting below a multiple). The script finds the Cs after which time jumps (by more
than 3x the typical difference between neighbours), the largest multiple that divides them all,
and how flat time is within a step: the median t(C) / t(next multiple), against the MAC ratio that
cost proportional to C would give. Steps of ~1 µs (3 %) sit at the noise floor of a shared 2-core
machine: run it twice before trusting a step that only one run finds.

    .venv/bin/python benchmarks/channel_multiple.py --first 40 --last 72   # ~2 min on 1 core
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pruneflow.models.macs import count_macs
from pruneflow.tf_env import keras, tf
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.deploy.benchmark import interleaved_ms

SIZE, WIDTH = 12, 48  # a late MobileNetV2 stage at 96-px input: 12x12 map, 48 channels in and out
FORMATS = ("float", "int8")


def block(expansion: int, seed: int = 0) -> keras.Model:
    """One inverted residual (stride 1, with its skip connection) expanding 48 channels to `expansion`.

    Args:
        expansion: channels of the expand conv's output and of the depthwise conv.
        seed: weight initialization (values do not change the time of dense kernels).

    Returns:
        The Keras model; BatchNorm folds into the convs on conversion, as in a deployed network.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, WIDTH))
    x = keras.layers.Conv2D(expansion, 1, use_bias=False)(inputs)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(WIDTH, 1, use_bias=False)(x))
    return keras.Model(inputs, keras.layers.Add()([inputs, x]))


def convert(model: keras.Model, fmt: str, calibration: np.ndarray) -> bytes:
    """float32, or full-int8 with int8 input and output (no QUANTIZE/DEQUANTIZE ops to time).

    Args:
        model: the block.
        fmt: "float" or "int8".
        calibration: images (N, SIZE, SIZE, WIDTH) for int8's activation ranges.

    Returns:
        The TFLite flatbuffer.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt == "int8":
        def representative() -> Iterator[list[np.ndarray]]:
            for image in calibration:
                yield [image[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def median_us(files: dict[str, Path], rounds: int, warmup: int, invokes: int, seed: int = 0) -> dict[str, float]:
    """Median µs of one batch-1, 1-thread invoke of each file, all files interleaved in every round.

    Args:
        files: name → TFLite file.
        rounds: timed rounds; warmup: untimed rounds before them.
        invokes: back-to-back invokes per timed call (the input is set once per call), so the timer's
            and Python's overhead is shared.
        seed: the shuffled order within rounds.

    Returns:
        name → median µs per invoke.
    """
    runners = {name: TFLiteRunner(path, threads=1, batch=1) for name, path in files.items()}
    refused = {name: r.delegate for name, r in runners.items() if r.delegate != "xnnpack"}
    if refused:
        print("not on XNNPACK:", refused)
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (1, SIZE, SIZE, WIDTH)).astype(np.float32)
    inputs = {name: _as_input(r, image) for name, r in runners.items()}

    def repeat(runner: TFLiteRunner, x: np.ndarray) -> None:
        runner.invoke(x)
        for _ in range(invokes - 1):
            runner.interpreter.invoke()

    ms = interleaved_ms({n: (lambda r=r, x=inputs[n]: repeat(r, x)) for n, r in runners.items()}, warmup, rounds, seed)
    return {name: float(np.median(sample)) * 1e3 / invokes for name, sample in ms.items()}


def _as_input(runner: TFLiteRunner, image: np.ndarray) -> np.ndarray:
    """The image in the runner's input type (quantized with the input's scale and zero point if int8)."""
    if runner.input["dtype"] == np.float32:
        return image
    scale, zero = runner.input["quantization"]
    return np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)


def steps(times: dict[int, float], noise_factor: float = 3.0) -> list[int]:
    """The Cs after which time jumps: t(C+1) - t(C) above `noise_factor` x the median |t(C+1) - t(C)|.

    Args:
        times: C → µs, for consecutive Cs.
        noise_factor: how many typical (noise-sized) differences a jump must exceed.

    Returns:
        The Cs (in order) whose successor is a step slower.
    """
    cs = sorted(times)
    jumps = {c: times[c + 1] - times[c] for c in cs[:-1] if c + 1 in times}
    noise = float(np.median(np.abs(list(jumps.values()))))
    return [c for c, jump in jumps.items() if jump > noise_factor * noise]


def tile(step_cs: list[int]) -> int:
    """The largest of 16, 8, 4, 2 that divides every step position; 1 when none does (no tiling seen)."""
    return next((m for m in (16, 8, 4, 2) if step_cs and all(c % m == 0 for c in step_cs)), 1)


def flatness(times: dict[int, float], macs: dict[int, int], multiple: int) -> tuple[float, float]:
    """Median over non-multiples C of t(C)/t(ceil_m(C)), and the same median of MACs(C)/MACs(ceil_m(C)).

    Args:
        times: C → µs; macs: C → MACs; multiple: m.

    Returns:
        (measured ratio, proportional-cost ratio): 1.0 measured means rounding up to m costs nothing.
    """
    pairs = [(c, multiple * math.ceil(c / multiple)) for c in times if c % multiple]
    pairs = [(c, up) for c, up in pairs if up in times]
    if not pairs:
        return float("nan"), float("nan")
    return (float(np.median([times[c] / times[up] for c, up in pairs])),
            float(np.median([macs[c] / macs[up] for c, up in pairs])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=40)
    parser.add_argument("--last", type=int, default=72)
    # Timing is cheap next to the ~1.7 s conversion of each model: 1000 rounds add ~15 s.
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--invokes", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "Statistics for quantized inputs")  # int8 input is intended
    widths = range(args.first, args.last + 1)
    calibration = np.random.default_rng(1).normal(0, 1, (8, SIZE, SIZE, WIDTH)).astype(np.float32)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files, macs = {}, {}
        for c in widths:
            model = block(c)
            macs[c] = count_macs(model)
            for fmt in FORMATS:
                files[f"{c}.{fmt}"] = Path(tmp) / f"block_{c}.{fmt}.tflite"
                files[f"{c}.{fmt}"].write_bytes(convert(model, fmt, calibration))
        converted = time.perf_counter() - start
        us = median_us(files, args.rounds, args.warmup, args.invokes)
    print(f"converted {len(files)} models in {converted:.0f} s, timed in {time.perf_counter() - start - converted:.0f} s "
          f"({args.rounds} rounds x {args.invokes} invokes, 1 thread, batch 1)")
    times = {fmt: {c: us[f"{c}.{fmt}"] for c in widths} for fmt in FORMATS}
    print(f"{'C':>4} {'kMACs':>7} " + " ".join(f"{fmt + ' µs':>10}" for fmt in FORMATS))
    for c in widths:
        print(f"{c:>4} {macs[c] / 1e3:>7.0f} " + " ".join(f"{times[fmt][c]:>10.1f}" for fmt in FORMATS))
    for fmt in FORMATS:
        step_cs, t = steps(times[fmt]), times[fmt]
        m = tile(step_cs)
        measured, proportional = flatness(t, macs, m) if m > 1 else (float("nan"), float("nan"))
        print(f"{fmt}: slower after C = {step_cs} -> steps at multiples of {m}; within a step "
              f"t(C)/t(next multiple) = {measured:.3f} (proportional cost would give {proportional:.3f})")
        dips = [t[c] / t[c - 1] for c in t if c % 8 == 0 and c - 1 in t]
        if dips:  # a multiple of 8 faster than one channel less: the kernels' narrower tile
            print(f"  {fmt}: t(8k)/t(8k-1) median {np.median(dips):.3f} over {len(dips)} multiples of 8")
        if all(c in t for c in (48, 49, 56, 64)):
            print(f"  {fmt}: C=49 takes {t[49] / t[56]:.2f}x C=56, {t[49] / t[64]:.2f}x C=64, {t[49] / t[48]:.2f}x C=48")


if __name__ == "__main__":
    main()
