"""TFLite: convert a Keras model to each deployable format, run a file, count its weights.

Formats, for each of the dense and the pruned (stripped) model (`export.formats`):


- float: float32, dense encoding (`<name>.tflite`);
- dynamic_range: int8 weights, float activations (`Optimize.DEFAULT`, no calibration data);
- int8: full-integer weights and activations, calibrated on `quantize.representative_samples` train
  images; it takes the camera's uint8 pixels directly (the model's first layer rescales them);
- sparse: float32 with sparse tensors (`Optimize.EXPERIMENTAL_SPARSITY`: DENSIFY ops + CSR-like
  encoding), the only raw format in which pruning's zeros stop taking 32 bits each;
- sparse_int8: both.

Sparse weights pay off compressed or sparse-encoded: zeros still take 32 bits each in a dense file,
but a run of zeros gzips to almost nothing.

Numbers about a deployable file are measured on the file itself: its weights' zeros are counted in
the flatbuffer (after quantization and sparse encoding, exactly what ships), and it is run with
ai-edge-litert, the runtime a phone would use.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.config.params import Config
from pruneflow.deploy.int8_fold import fold_constant_channels
from pruneflow.artifacts.files import gzip_bytes
from pruneflow.artifacts.phases import phase
from pruneflow.artifacts.points import NOT_APPLICABLE_FILE
from pruneflow.tf_env import keras, tf

Representative = Callable[[], Iterator[list[np.ndarray]]]


def model_files(cfg: Config) -> dict[str, Path]:
    """The Keras model behind each exported variant: the dense baseline and the stripped pruned model."""
    return {"dense": cfg.paths.dense_model, "pruned": cfg.paths.stripped_model}


def tflite_kind(fmt: str) -> str:
    """File kind of a TFLite format: `tflite` for float (the baseline), `<fmt>.tflite` otherwise."""
    return "tflite" if fmt == "float" else f"{fmt}.tflite"


def exported(export_dir: Path, name: str, kind: str) -> Path:
    """Path of an exported file; kind is keras, keras.gz, tflite, tflite.gz, or `<format>.tflite[.gz]`."""
    return export_dir / f"{name}.{kind}"


def deployables(cfg: Config) -> dict[str, Path]:
    """Every TFLite file a run produces, keyed `<model>.<format>`: dense and pruned per export format,
    then the PQAT model's formats when `quantize.pqat` is on and tfmot could apply it (the one home of
    this listing)."""
    files = {
        f"{name}.{fmt}": exported(cfg.paths.export, name, tflite_kind(fmt))
        for name in model_files(cfg)
        for fmt in cfg.export.formats
    }
    if cfg.quantize.pqat and not (cfg.paths.pqat / NOT_APPLICABLE_FILE).exists():
        files.update({f"pruned_pqat.{fmt}": exported(cfg.paths.pqat, "pruned_pqat", tflite_kind(fmt))
                      for fmt in PQAT_FORMATS})
    return files


# PQAT's fake-quant nodes make the converter write int8; the sparse twin keeps its zeros encoded.
PQAT_FORMATS = ("int8", "sparse_int8")


def calibration_images(images: np.ndarray, count: int) -> np.ndarray:
    """The `count` train images that calibrate int8, spread evenly over the split."""
    picks = np.linspace(0, len(images) - 1, num=min(count, len(images))).round().astype(int)
    return images[picks]


def representative_data(images: np.ndarray, count: int) -> Representative:
    """Calibration batches for int8: `count` train images spread evenly over the split, one per batch."""
    picked = calibration_images(images, count)

    def batches() -> Iterator[list[np.ndarray]]:
        for i in range(len(picked)):
            yield [picked[i : i + 1].astype(np.float32)]

    return batches


def to_tflite(model: keras.Model, fmt: str = "float", representative: Representative | None = None) -> bytes:
    """Convert to one TFLite format (see the module docstring).

    Args:
        model: a Keras model (stripped of pruning wrappers), or a quantization-aware one.
        fmt: float, dynamic_range, int8, sparse or sparse_int8.
        representative: calibration data; required for post-training int8 formats, None for a
            quantization-aware model (its fake-quant ranges are the calibration).

    Returns:
        The flatbuffer bytes.
    """
    if fmt.endswith("int8") and representative is not None:
        model = fold_constant_channels(model)  # int8 would amplify their rounding (pruneflow/deploy/int8_fold.py)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    optimizations = []
    if fmt.startswith("sparse"):
        optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    if fmt in ("dynamic_range", "int8", "sparse_int8"):
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if fmt.endswith("int8") and representative is not None:
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8  # raw pixels in: scale 1, zero point 0 on 0..255 data
    with phase("convert"):
        return converter.convert()


def write_tflite(out: Path, name: str, fmt: str, flatbuffer: bytes) -> None:
    """Write `<name>.<kind>` and its gzip into `out`."""
    exported(out, name, tflite_kind(fmt)).write_bytes(flatbuffer)
    exported(out, name, f"{tflite_kind(fmt)}.gz").write_bytes(gzip_bytes(flatbuffer))


def export_files(name: str, keras_file: Path, out: Path, formats: tuple[str, ...] = ("float",),
                 calibration: np.ndarray | None = None) -> None:
    """Write `<name>.keras`, `<name>.keras.gz` and each TFLite format (and its gzip) of the model in
    `keras_file` into `out`; int8 formats calibrate on `calibration` (see `calibration_images`)."""
    from pruneflow.models.classifier import load_model

    shutil.copyfile(keras_file, exported(out, name, "keras"))
    exported(out, name, "keras.gz").write_bytes(gzip_bytes(keras_file.read_bytes()))
    model = load_model(keras_file)
    representative = None if calibration is None else representative_data(calibration, len(calibration))
    for fmt in formats:
        write_tflite(out, name, fmt, to_tflite(model, fmt, representative))


def convert_file(keras_file: Path, fmt: str, calibration: np.ndarray | None = None) -> bytes:
    """`to_tflite` of the model saved in `keras_file` (a picklable job for `in_processes`)."""
    from pruneflow.models.classifier import load_model

    representative = None if calibration is None else representative_data(calibration, len(calibration))
    return to_tflite(load_model(keras_file), fmt, representative)


# A conversion costs by the graph's size: a MobileNet at 32 px 16–19 s, the toy architecture (about 30
# layers) about a second. A spawned converter pays TensorFlow's import again (6 s idle, 12–15 s beside
# another stage), so graphs of fewer layers than this convert in the stage's own process.
SPAWN_MIN_LAYERS = 60


def keras_layer_count(keras_file: Path) -> int:
    """How many layers the model saved in a `.keras` file has (nested models' layers included), read
    from its config without loading it."""
    import json
    import zipfile

    with zipfile.ZipFile(keras_file) as archive:
        config = json.loads(archive.read("config.json"))

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(count(value) for value in node.values()) + (1 if "class_name" in node and "name" in node else 0)
        if isinstance(node, list):
            return sum(count(value) for value in node)
        return 0

    return count(config.get("config", {}).get("layers", []))


def _small_graphs(calls: list[tuple]) -> bool:
    """Whether every call converts a `.keras` file of fewer than `SPAWN_MIN_LAYERS` layers."""
    files = [arg for args in calls for arg in args if isinstance(arg, Path) and arg.suffix == ".keras"]
    return bool(files) and all(keras_layer_count(path) < SPAWN_MIN_LAYERS for path in files)


def in_processes(function: Callable[..., Any], calls: list[tuple]) -> list[Any]:
    """`function(*args)` for every `args` of `calls`, each in a fresh process, as many at once as there
    are CPUs. A TFLite conversion is mostly single-threaded, so two models convert in about the time
    of one on two cores. Runs them here, one by one, on one CPU, in a daemonic process (a Dask
    worker), which may not start children, or when every model is a small graph (`SPAWN_MIN_LAYERS`)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(len(calls), cpus)
    with phase("convert"):  # every caller converts: export, the points, the channel benchmark
        if workers < 2 or multiprocessing.current_process().daemon or _small_graphs(calls):
            return [function(*args) for args in calls]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return [future.result() for future in [pool.submit(function, *args) for args in calls]]


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
