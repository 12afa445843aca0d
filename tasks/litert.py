"""Thin wrappers over ai-edge-litert: run a TFLite file, and read its weights back from the flatbuffer.

Numbers about a deployable file are measured on the file itself: its weights' zeros are counted in
the flatbuffer (after quantization and sparse encoding, exactly what ships), and it is run with the
same runtime a phone would use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Operators whose input 1 is the weight tensor (what magnitude pruning zeroes).
_WEIGHT_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
# Operators that only re-encode a constant on its way to a weight input.
_PASS_THROUGH_OPS = {"DENSIFY", "DEQUANTIZE"}
_NUMPY_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8, "INT32": np.int32}


@dataclass(frozen=True)
class WeightStats:
    """Zeros among the conv/depthwise/fully-connected weights stored in a TFLite file."""

    params: int
    zeros: int
    sparse_tensors: int  # weight tensors stored sparse-encoded (Optimize.EXPERIMENTAL_SPARSITY)

    @property
    def sparsity_pct(self) -> float:
        return 100.0 * self.zeros / self.params if self.params else 0.0


def weight_stats(flatbuffer: bytes) -> WeightStats:
    """Count weights and exact zeros of every conv/depthwise/FC weight tensor in a TFLite model.

    A sparse-encoded tensor stores only its (block) values; its dense size comes from its shape, so
    the encoded-away zeros are counted as zeros. Quantized weights are zero when their integer is
    zero (weights are quantized symmetrically, zero point 0).
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    codes = [names[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in model.operatorCodes]
    params = zeros = sparse = 0
    for graph in model.subgraphs:
        producer = {out: op for op in graph.operators for out in op.outputs}
        for op in graph.operators:
            if codes[op.opcodeIndex] not in _WEIGHT_OPS:
                continue
            index = op.inputs[1]
            while index in producer and codes[producer[index].opcodeIndex] in _PASS_THROUGH_OPS:
                index = producer[index].inputs[0]
            tensor = graph.tensors[index]
            data = model.buffers[tensor.buffer].data
            if data is None:
                continue
            values = np.frombuffer(bytes(bytearray(data)), dtype=_NUMPY_TYPES[types[tensor.type]])
            size = int(np.prod(tensor.shape))
            params += size
            zeros += size - int(np.count_nonzero(values))
            sparse += tensor.sparsity is not None
    return WeightStats(params=params, zeros=zeros, sparse_tensors=sparse)


class TFLiteRunner:
    """One ai-edge-litert interpreter for a TFLite file at a fixed batch size and thread count.

    The XNNPACK delegate is used when it accepts the model. ai-edge-litert 2.3.0's XNNPACK refuses
    sparse-encoded int8 fully-connected weights ("failed to delegate FULLY_CONNECTED"); such a file
    runs on TFLite's built-in kernels instead, and `delegate` says so.
    """

    def __init__(self, path: Path, threads: int = 1, batch: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.delegate = "xnnpack"
        try:
            self.interpreter = self._build(Interpreter, path, threads, batch)
        except RuntimeError as exc:
            first = (str(exc).splitlines() or [""])[0][:120]
            self.delegate = f"builtin (XNNPACK refused: {first})"
            self.interpreter = self._build(
                Interpreter, path, threads, batch, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = batch

    @staticmethod
    def _build(interpreter_class, path: Path, threads: int, batch: int, resolver=None):
        kwargs = {"experimental_op_resolver_type": resolver} if resolver is not None else {}
        interpreter = interpreter_class(model_path=str(path), num_threads=threads, **kwargs)
        if batch != 1:
            shape = interpreter.get_input_details()[0]["shape"]
            interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [batch, *shape[1:]])
        interpreter.allocate_tensors()
        return interpreter

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Raw 0–255 pixels in the model's input type (quantized with its scale/zero point if integer)."""
        dtype = self.input["dtype"]
        if dtype == np.float32:
            return images.astype(np.float32)
        scale, zero = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(images.astype(np.float32) / scale + zero), info.min, info.max).astype(dtype)

    def invoke(self, prepared: np.ndarray) -> None:
        """One inference on a prepared batch (the timed call)."""
        self.interpreter.set_tensor(self.input["index"], prepared)
        self.interpreter.invoke()

    def output_values(self) -> np.ndarray:
        """The last invoke's output as float (dequantized if integer)."""
        out = self.interpreter.get_tensor(self.output["index"])
        if out.dtype == np.float32:
            return out.copy()
        scale, zero = self.output["quantization"]
        return (out.astype(np.float32) - zero) * scale

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for every image (batches of this runner's size; a short last batch is padded)."""
        outputs = []
        for start in range(0, len(images), self.batch):
            chunk = images[start : start + self.batch]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], self.batch - len(chunk), axis=0)])
            self.invoke(self.prepare(padded))
            outputs.append(self.output_values()[: len(chunk)])
        return np.concatenate(outputs)
