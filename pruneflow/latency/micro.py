"""Time single layers in TFLite: every distinct (kind, geometry, input and output channels) becomes one
signature of one multi-signature TFLite file per format, so a table of a few hundred layers costs one
conversion per format instead of hundreds (measured: 150 int8 convs convert in ~43 s, ~0.3 s each).

Each signature is one op with its bias (conv, depthwise): int8 ones take and give int8 tensors, so no
quantize/dequantize op rides along. Only the subgraph's Invoke is timed (its input set once): what an
op costs inside a model, without the Python signature runner's copies. Signatures are interleaved in
shuffled rounds like every other benchmark here (`pruneflow.deploy.benchmark`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from pruneflow.artifacts.phases import phase
from pruneflow.deploy.benchmark import interleaved_ms

Signature = tuple[Any, ...]  # (kind, kh, kw, sh, sw, padding, dh, dw, H, W, extra, c_in, c_out)
CALIBRATION_SAMPLES = 1      # ranges do not change the kernels' speed


def _op(signature: Signature, rng: np.random.Generator) -> tuple[Callable[..., Any], list[Any], list[int]]:
    import tensorflow as tf

    kind, kh, kw, sh, sw, padding, dh, dw, height, width, extra, c_in, c_out = signature
    strides, dilations, pad = [1, sh, sw, 1], [dh, dw], padding.upper()
    if kind == "depthwise":
        kernel = tf.Variable(rng.normal(0, 0.1, (kh, kw, c_in, extra)).astype(np.float32))
        bias = tf.Variable(np.zeros(c_in * extra, np.float32))
        op = lambda x: tf.nn.depthwise_conv2d(x, kernel, strides, pad, dilations=dilations) + bias
    else:
        kernel = tf.Variable(rng.normal(0, 0.1, (kh, kw, c_in // extra, c_out)).astype(np.float32))
        bias = tf.Variable(np.zeros(c_out, np.float32))
        op = lambda x: tf.nn.conv2d(x, kernel, strides, pad, dilations=dilations) + bias
    return op, [kernel, bias], [1, height, width, c_in]


def _function(op: Callable[..., Any], shape: list[int]) -> Any:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="x")])
    def call(x):
        return {"y": op(x)}

    return call


def micro_tflite(signatures: list[Signature], fmt: str, seed: int = 0) -> bytes:
    """One TFLite file (float or int8) with a signature `s<i>` per layer signature (a picklable job)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    module, functions, shapes = tf.Module(), {}, {}
    for i, signature in enumerate(signatures):
        op, variables, shape = _op(signature, rng)
        setattr(module, f"v{i}", variables)
        call = _function(op, shape)
        setattr(module, f"f{i}", call)
        functions[f"s{i}"], shapes[f"s{i}"] = call, shape
    with tempfile.TemporaryDirectory() as folder, phase("convert"):
        tf.saved_model.save(module, folder, signatures=functions)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(functions))
        if fmt == "int8":
            def representative():
                for key, shape in shapes.items():
                    for _ in range(CALIBRATION_SAMPLES):
                        yield key, {"x": rng.uniform(0.0, 6.0, shape).astype(np.float32)}

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        return converter.convert()


class MicroRunner:
    """Every signature of a micro file in one interpreter (XNNPACK), its input set once."""

    def __init__(self, flatbuffer: bytes, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
        self.subgraphs: dict[str, int] = {}
        for key in self.interpreter.get_signature_list():
            runner = self.interpreter.get_signature_runner(key)
            # the runner's own __call__ copies every output per call; the timed call is the subgraph's Invoke
            self.wrapper, index = runner._interpreter_wrapper, runner._subgraph_index
            self.wrapper.AllocateTensors(index)
            detail = runner.get_input_details()["x"]
            self.wrapper.SetTensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]), index)
            self.subgraphs[key] = index

    def calls(self) -> dict[str, Callable[[], None]]:
        return {key: (lambda index=index: self.wrapper.Invoke(index)) for key, index in self.subgraphs.items()}


def time_signatures(flatbuffer: bytes, threads: int, extra: dict[str, Callable[[], None]], warmup: int, runs: int,
                    seed: int) -> dict[str, float]:
    """Median ms of every signature (`s<i>`) and of the `extra` calls, interleaved in one run."""
    runner = MicroRunner(flatbuffer, threads)
    samples = interleaved_ms({**runner.calls(), **extra}, warmup, runs, seed, label="latency_table")
    return {key: float(np.median(ms)) for key, ms in samples.items()}
