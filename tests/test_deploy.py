"""Deployment formats on a tiny trained run: every TFLite variant loads and predicts, int8 stays near
float, sparse encoding keeps the zeros, PQAT keeps them too, the bench JSON is complete, and whether
XNNPACK's sparse inference engages on this CPU."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest
import yaml

from pruneflow.config.params import Config
from tests.builds import build_config, copy_build
from tests.helpers import ALL_FORMATS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(dvc_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A copy of the session's build (stripes it learns, pruned to 80 %) exported in every TFLite format,
    with a one-epoch PQAT model and the bench of all of them, run in-process."""
    from pruneflow.deploy.tflite import (
        calibration_images,
        export_files,
        in_processes,
        model_files,
    )
    from pruneflow.models.data import load_split
    from tasks import bench, pqat

    root = copy_build(dvc_build, tmp_path_factory.mktemp("deploy") / "build")
    params = yaml.safe_load((root / "params.yaml").read_text())
    built = params["export"]["formats"]
    params["export"]["formats"] = list(ALL_FORMATS)
    params["quantize"]["pqat"] = True
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cfg = build_config(root)
    # the export stage's own code, for the formats the build did not convert (float and int8 it did)
    calibration = calibration_images(load_split(cfg.paths.prepared, "train")[0], cfg.quantize.representative_samples)
    missing = tuple(fmt for fmt in ALL_FORMATS if fmt not in built)
    in_processes(export_files, [(name, path, cfg.paths.export, missing, calibration) for name, path in model_files(cfg).items()])
    for stage in (pqat, bench):
        stage.run(cfg)
    return cfg


@pytest.fixture(scope="module")
def test_split(run: Config) -> tuple[np.ndarray, np.ndarray]:
    from pruneflow.models.data import load_split

    return load_split(run.paths.prepared, "test")


def _predict(path: Path, x: np.ndarray, batch: int = 1) -> np.ndarray:
    from pruneflow.deploy.tflite_runner import TFLiteRunner

    return TFLiteRunner(path, threads=1, batch=batch).predict(x)


def test_every_variant_loads_and_predicts_class_probabilities(run: Config, test_split) -> None:
    from pruneflow.deploy.tflite import deployables

    x, _ = test_split
    files = deployables(run)
    assert set(files) == {f"{m}.{f}" for m in ("dense", "pruned") for f in ALL_FORMATS} | {
        "pruned_pqat.int8", "pruned_pqat.sparse_int8"}
    for name, path in files.items():
        for batch in (1, 4):
            probs = _predict(path, x, batch)
            assert probs.shape == (len(x), 2), name
            assert np.allclose(probs.sum(1), 1.0, atol=0.02), name  # softmax, dequantized for int8


def test_int8_accuracy_stays_within_five_points_of_float(run: Config, test_split) -> None:
    from pruneflow.deploy.tflite import deployables

    x, y = test_split
    files = deployables(run)
    accuracy = {name: 100 * np.mean(_predict(files[name], x).argmax(1) == y)
                for name in ("dense.float", "dense.int8", "pruned.float", "pruned.int8", "pruned_pqat.int8")}
    # the tiny run must have learned (dense and pruned) for the comparison to mean anything
    assert accuracy["dense.float"] >= 80 and accuracy["pruned.float"] >= 70, accuracy
    for int8, reference in (("dense.int8", "dense.float"), ("pruned.int8", "pruned.float"),
                            ("pruned_pqat.int8", "pruned.float")):
        assert abs(accuracy[int8] - accuracy[reference]) <= 5.0, accuracy


def test_sparse_encoding_keeps_the_zeros_in_a_smaller_file_with_identical_predictions(run: Config, test_split) -> None:
    from pruneflow.deploy.tflite import exported
    from pruneflow.deploy.tflite_weights import weight_stats

    x, _ = test_split
    dense_enc = exported(run.paths.export, "pruned", "tflite")
    sparse_enc = exported(run.paths.export, "pruned", "sparse.tflite")
    dense_stats, sparse_stats = weight_stats(dense_enc.read_bytes()), weight_stats(sparse_enc.read_bytes())
    assert sparse_stats.sparse_tensors > 0 and dense_stats.sparse_tensors == 0
    assert sparse_stats.params == dense_stats.params and sparse_stats.zeros == dense_stats.zeros
    assert dense_stats.sparsity_pct > 70  # pruned to 80 % of the prunable kernels
    assert sparse_enc.stat().st_size < 0.6 * dense_enc.stat().st_size
    a, b = _predict(dense_enc, x), _predict(sparse_enc, x)
    assert np.array_equal(a.argmax(1), b.argmax(1))
    assert np.allclose(a, b, atol=1e-5)
    # the dense model has nothing worth encoding: the converter leaves it dense
    assert weight_stats(exported(run.paths.export, "dense", "sparse.tflite").read_bytes()).sparse_tensors == 0


def test_quantization_keeps_every_pruned_zero_in_its_place(run: Config) -> None:
    from pruneflow.deploy.tflite import deployables
    from pruneflow.deploy.tflite_weights import weight_stats, weight_tensors

    files = deployables(run)

    def zero_masks(name: str) -> list[np.ndarray]:
        return [t.values.reshape(t.shape) == 0 for t in weight_tensors(files[name].read_bytes())]

    pruned = zero_masks("pruned.float")
    assert sum(int(mask.sum()) for mask in pruned) > 0
    for name in ("pruned.int8", "pruned.dynamic_range", "pruned_pqat.int8"):
        masks = zero_masks(name)
        assert [m.shape for m in masks] == [m.shape for m in pruned], name
        # rounding can only add zeros; every weight pruning zeroed is still zero, at the same position
        assert all(np.all(mine[zeroed]) for zeroed, mine in zip(pruned, masks)), name
    for name in ("pruned.sparse_int8", "pruned_pqat.sparse_int8"):  # sparse-encoded: the zeros are encoded away
        assert weight_stats(files[name].read_bytes()).zeros >= sum(int(mask.sum()) for mask in pruned), name


def test_bench_json_has_every_field_and_speedups_from_the_same_rounds(run: Config) -> None:
    import pandas as pd

    from pruneflow.deploy.tflite import deployables

    result = json.loads(run.paths.bench.read_text())
    assert {"warmup_rounds", "runs", "batch", "threads", "machine", "method"} <= set(result["setup"])
    assert {"cpu", "cores", "isa", "versions", "threads_benchmarked"} <= set(result["machine"])
    assert set(result["variants"]) == set(deployables(run))
    for name, entry in result["variants"].items():
        assert entry["delegate"]
        for threads in ("threads_1", "threads_2"):
            stats = entry[threads]
            for key in ("batch1_p50_ms", "batch1_p95_ms", "batch1_p5_ms", "batch1_iqr_ms", "batch4_p50_ms",
                        "throughput_batch4_images_per_s"):
                assert stats[key] > 0, (name, threads, key)
            assert stats["batch1_p5_ms"] <= stats["batch1_p50_ms"] <= stats["batch1_p95_ms"]
            if name != "dense.float":
                s = result["speedup"][threads][name]
                assert s["batch1_vs_dense_float_x"] == pytest.approx(
                    result["variants"]["dense.float"][threads]["batch1_p50_ms"] / stats["batch1_p50_ms"])
                if not name.startswith("dense."):
                    assert s["batch1_vs_dense_same_format_x"] > 0
    samples = pd.read_csv(run.paths.latency_samples)
    assert list(samples.columns) == ["run", "dense_ms", "pruned_ms"] and len(samples) == run.bench.runs


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


# Over the suite's 120 s limit by design: two MobileNetV2 conversions: 113 s measured on the loaded 2-core machine.
@pytest.mark.timeout(240)
def test_xnnpack_sparse_inference_engages_only_on_cpus_without_avx(tmp_path: Path) -> None:
    """XNNPACK turns its sparse (NCHW, SpMM) path off on x86 CPUs with AVX, where it expects dense AVX
    kernels to win (src/xnnpack/hardware-config.h, xnn_is_chw_compatible_config). When the path runs,
    it changes float rounding; when it does not, the sparse file is densified into the same kernels
    and the outputs are bit-identical. The model is in the xnnpack form and 80 % sparse, which meets
    every other rule."""
    from pruneflow.config.dense import ModelConfig
    from pruneflow.deploy.tflite import to_tflite
    from pruneflow.deploy.tflite_runner import TFLiteRunner
    from pruneflow.deploy.tflite_weights import weight_stats
    from pruneflow.models.classifier import build_classifier
    from pruneflow.tf_env import keras

    model = build_classifier(ModelConfig(form="xnnpack", alpha=0.35), 4, 32)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1):
            kernel = layer.kernel.numpy()
            kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.8)] = 0.0
            layer.kernel.assign(kernel)
        if isinstance(layer, keras.layers.BatchNormalization):  # non-trivial statistics: outputs depend on weights
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if i in (0, 3)
                               else rng.normal(0, 0.1, w.shape).astype(np.float32)
                               for i, w in enumerate(layer.get_weights())])
    files = {}
    for fmt in ("float", "sparse"):
        files[fmt] = tmp_path / f"{fmt}.tflite"
        files[fmt].write_bytes(to_tflite(model, fmt))
    assert weight_stats(files["sparse"].read_bytes()).sparse_tensors > 0  # the file does hold sparse tensors
    assert weight_stats(files["float"].read_bytes()).sparse_tensors == 0
    assert {TFLiteRunner(path).delegate for path in files.values()} == {"xnnpack"}  # and XNNPACK runs both
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    dense_out = TFLiteRunner(files["float"]).predict(x)
    sparse_out = TFLiteRunner(files["sparse"]).predict(x)
    assert np.allclose(dense_out, sparse_out, atol=1e-4)
    engaged = not np.array_equal(dense_out, sparse_out)
    machine = platform.machine().lower()
    expected = machine in ("aarch64", "arm64") or (machine in ("x86_64", "amd64") and "avx" not in _cpu_flags())
    assert engaged == expected, f"{machine}, avx={'avx' in _cpu_flags()}: sparse path engaged={engaged}"
