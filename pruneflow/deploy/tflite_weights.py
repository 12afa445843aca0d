"""Weights stored in a TFLite flatbuffer: every conv/depthwise/fully-connected weight tensor as it ships
(after quantization and sparse encoding), read through the DENSIFY/DEQUANTIZE ops that only re-encode a
constant, and the count of its weights and exact zeros (`weight_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class WeightTensor:
    """One conv/depthwise/fully-connected weight tensor as stored: its shape, its stored values (all of
    them, in the shape's order, unless sparse-encoded: then only the kept block values) and encoding."""

    shape: tuple[int, ...]
    values: np.ndarray
    sparse: bool


def weight_tensors(flatbuffer: bytes) -> list[WeightTensor]:
    """Every conv/depthwise/FC weight tensor of a TFLite model, in operator order, read through the
    DENSIFY/DEQUANTIZE ops that only re-encode a constant on its way to the weight input."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    codes = [names[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in model.operatorCodes]
    tensors = []
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
            tensors.append(WeightTensor(tuple(int(d) for d in tensor.shape), values, tensor.sparsity is not None))
    return tensors


def weight_stats(flatbuffer: bytes) -> WeightStats:
    """Count weights and exact zeros of every conv/depthwise/FC weight tensor in a TFLite model.

    A sparse-encoded tensor stores only its (block) values; its dense size comes from its shape, so
    the encoded-away zeros are counted as zeros. Quantized weights are zero when their integer is
    zero (weights are quantized symmetrically, zero point 0).
    """
    params = zeros = sparse = 0
    for tensor in weight_tensors(flatbuffer):
        size = int(np.prod(tensor.shape))
        params += size
        zeros += size - int(np.count_nonzero(tensor.values))
        sparse += tensor.sparse
    return WeightStats(params=params, zeros=zeros, sparse_tensors=sparse)
