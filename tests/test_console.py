"""Console output: TensorFlow's start-up chatter is dropped, everything else reaches the user, a stage
ends with one summary line (or its one error line), and a long timing run shows its progress."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pruneflow.deploy.benchmark import interleaved_ms
from pruneflow.pipeline.console import NOISE, is_noise, keep_lines, stage_outputs, summary_line
from tests.helpers import REPO, write_params

# One real line per NOISE pattern, as TensorFlow printed it (the CUDA-only ones as TensorFlow words them).
NOISE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "WARNING: Logging before InitGoogleLogging() is written to STDERR",
    "I0000 00:00:1796060777.169617   15824 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796060777.171181   15824 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1796060734.698114   15469 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796060675.889234   15201 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
    "which is not in the op definition: Op<name=MapDataset; signature=input_dataset:variant> This may be expected if "
    "your graph generating binary is newer  than this binary. Unknown attributes will be ignored. NodeDef: "
    "{{node ParallelMapDatasetV2/_15}}",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "INFO: Initialized TensorFlow Lite runtime.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, output_inference_type: FLOAT32",
    "/work/main/.venv/lib/python3.11/site-packages/tensorflow/lite/python/convert.py:846: UserWarning: Statistics "
    "for quantized inputs were expected, but not specified; continuing anyway.",
    "I0000 00:00:1700000000.000000    1234 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "E0000 00:00:1700000000.000000    1234 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to "
    "register factory for plugin cuDNN when one has already been registered",
    "E0000 00:00:1700000000.000000    1234 cuda_blas.cc:1418] Unable to register cuBLAS factory: Attempting to "
    "register factory for plugin cuBLAS when one has already been registered",
    "W0000 00:00:1700000000.000000    1234 computation_placer.cc:177] computation placer already registered. Please "
    "check linkage and avoid linking the same target more than once.",
    "2024-01-01 00:00:00.000000: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not "
    "find TensorRT",
    "I0000 00:00:1700000000.000000    1234 cuda_executor.cc:1015] successful NUMA node read from SysFS had negative "
    "value (-1), but there must be at least one NUMA node, so returning NUMA node zero.",
    "Your kernel may have been built without NUMA support.",
]

# Lines a user must still see: pruneflow's own, Keras', real errors from TensorFlow, tracebacks, warnings.
KEPT_LINES = [
    "pruneflow: error: models/pruned_wrapped.keras: missing; run `python -m pruneflow prune` (or `dvc repro`) first",
    "3/3 - 0s - loss: 2.7562 - accuracy: 0.1750 - val_loss: 2.3043 - val_accuracy: 0.1000 - 369ms/epoch",
    "Epoch 2/7",
    "Traceback (most recent call last):",
    '  File "/work/main/pruneflow/model.py", line 40, in load_model',
    "ValueError: Could not find cuda drivers in the model file",  # a message that only quotes noise words
    "F0000 00:00:1700000000.000000    1234 tensor_shape.cc:45] Check failed: d >= 0 (-1 vs. 0)",
    "E0000 00:00:1700000000.000000    1234 op_kernel.cc:1839] OP_REQUIRES failed at conv_ops.cc:1017 : RESOURCE_EXHAUSTED",
    "W0000 00:00:1700000000.000000    1234 cuda_executor.cc:1040] Not enough memory to allocate 1.2 GiB",
    "/work/main/pruneflow/data.py:88: UserWarning: an image was read as grayscale",
    "INFO: Applying 1 TensorFlow Lite delegate(s) lazily.",
]


@pytest.mark.parametrize("line", NOISE_LINES)
def test_each_known_noise_line_is_dropped(line: str) -> None:
    assert is_noise(line) and is_noise(line + "\n")
    assert list(keep_lines([line + "\n"])) == []


@pytest.mark.parametrize("line", KEPT_LINES)
def test_every_other_line_reaches_the_user(line: str) -> None:
    assert not is_noise(line)
    assert list(keep_lines([line + "\n"])) == [line + "\n"]


def test_every_noise_pattern_has_a_real_line_that_proves_it() -> None:
    unmatched = [why for why, pattern in NOISE if not any(pattern.search(line) for line in NOISE_LINES)]
    assert not unmatched


def test_a_noise_warning_takes_its_source_line_along_and_other_warnings_keep_theirs() -> None:
    lines = [NOISE_LINES[9] + "\n", "  warnings.warn(\n", "export: done\n",
             KEPT_LINES[-2] + "\n", "  warnings.warn(\n", "  indented line after a kept line\n"]
    assert list(keep_lines(lines)) == lines[2:]


def test_the_summary_names_the_stage_its_time_and_each_output_with_its_size(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_bytes(b"x" * 2_500_000)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.json").write_text("{}")
    line = summary_line("strip", 12.34, [tmp_path / "model.keras", tmp_path / "folder", tmp_path / "absent"])
    assert line == (f"pruneflow: strip done in 12.3 s → {tmp_path}/model.keras (2.5 MB), {tmp_path}/folder (2 B), "
                    f"{tmp_path}/absent (missing)")


def test_a_point_stage_summary_names_the_point_and_its_folder(in_tmp: Path) -> None:
    write_params(in_tmp)
    name, outs = stage_outputs(["sweep_point", "--sparsity", "0.5", "--schedule", "polynomial"])
    assert name == "sweep_point@0.5-polynomial"
    assert [out.name for out in outs] == ["0.5-polynomial"]


def test_a_long_timing_run_prints_a_line_per_tenth_and_a_short_one_only_its_last(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = {"a": lambda: None, "b": lambda: None}
    interleaved_ms(calls, warmup=2, runs=18, label="bench 1 thread(s), batch 1")
    assert capsys.readouterr().out.splitlines()[-1].startswith("bench 1 thread(s), batch 1: 2 variants, round 20/20 (100 %)")
    monkeypatch.setattr("pruneflow.deploy.benchmark.PROGRESS_EVERY_S", 0.0)  # as if every round took long
    interleaved_ms(calls, warmup=2, runs=18)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[1] for line in lines] == [f" round {2 * k}/20 ({10 * k} %)" for k in range(1, 11)]


# ----------------------------------------------------------------------------- the command line


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if key != "PRUNEFLOW_TF_LOGS"}
    environ.update({"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", **env})
    return subprocess.run([sys.executable, "-m", "pruneflow", *args], cwd=root, env=environ, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A tiny project ingested from the command line (mnist5k, 8 images per class)."""
    write_params(tmp_path)
    return tmp_path, cli(tmp_path, "ingest")


def test_a_stage_ends_with_its_summary_line(ingested: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = ingested
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"pruneflow: ingest done in \d+\.\d s → data/prepared \(\d+(\.\d)? [KM]?B\)", lines[-1]), lines
    assert lines[-2].startswith("ingest: 80 images")  # the stage's own line, before it


def test_tensorflow_noise_is_dropped_and_bad_input_is_still_one_line(
        ingested: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = ingested  # strip loads TensorFlow, then finds no pruned model
    result = cli(root, "strip")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pruneflow: error: models/pruned_wrapped.keras: "), result.stderr
    assert "done in" not in result.stdout
    # the control: with the filter off, the same run prints TensorFlow's start-up lines
    raw = cli(root, "strip", PRUNEFLOW_TF_LOGS="1")
    assert raw.returncode == 2 and any(is_noise(line) for line in raw.stderr.splitlines()), raw.stderr
    assert raw.stderr.splitlines()[-1] == result.stderr.splitlines()[0]


@pytest.mark.slow
def test_a_training_stage_shows_keras_epochs_and_a_summary_and_no_noise(
        ingested: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = ingested
    result = cli(root, "train_dense")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow printed its cuInit and NodeDef lines here before the filter
    lines = result.stdout.splitlines()
    assert any(line.startswith("1/") or " - loss: " in line for line in lines)  # Keras' epoch line
    assert lines[-1].startswith("pruneflow: train_dense done in ")
    assert re.search(r"models/dense\.keras \(\d+\.\d (KB|MB)\)", lines[-1]), lines[-1]
