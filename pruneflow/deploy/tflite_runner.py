"""Running a TFLite file: `TFLiteRunner`, one ai-edge-litert interpreter (the runtime a phone would use)
at a fixed batch size and thread count, with XNNPACK when it accepts the model, that prepares raw pixels
in the model's input type, times single invokes and predicts class probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
