"""Bad input, case by case: each ends with one line naming the input and what is allowed, exit
status 2, no traceback, and the outputs of the earlier good run untouched — or, for the cases we
skip and report, a run that succeeds and counts what it left out.

The "Bad input" table in docs/operations.md lists the same cases and what each does.
"""

from __future__ import annotations

import ctypes
import io
import os
import resource
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pruneflow.__main__ import main
from pruneflow.config.params import load_config
from pruneflow.artifacts.files import digest
from tests.conftest import REPO, write_image_folder, write_params

FOLDER = {"data": {"source": "folder", "folder": "data/raw", "samples_per_class": None}}


@pytest.fixture
def workspace(in_tmp: Path) -> Path:
    """A tiny folder dataset, ingested once (the earlier good outputs), plus stand-ins for the
    model files later stages would overwrite."""
    write_image_folder(in_tmp / "data" / "raw", {"with_mask": 6, "without_mask": 6}, size=24)
    write_params(in_tmp, FOLDER)
    assert main(["ingest"]) == 0
    (in_tmp / "models").mkdir()
    for name in ("dense.keras", "pruned_stripped.keras"):
        (in_tmp / "models" / name).write_bytes(b"earlier good model " + name.encode())
    return in_tmp


def outputs(root: Path) -> dict[str, str]:
    """Digest of every output file (everything but the raw data and the params)."""
    files = {p.relative_to(root): p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}
    return {str(rel): digest(p) for rel, p in files.items() if rel.parts[:2] != ("data", "raw") and rel.name != "params.yaml"}


def edit_params(root: Path, changes: dict) -> None:
    write_params(root, {**FOLDER, **changes} if "data" not in changes else
                 {**changes, "data": {**FOLDER["data"], **changes["data"]}})


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid 1x1 PNG whose header claims side x side pixels: a decompression bomb's signature."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 4  # signature, chunk length; then b"IHDR", width, height
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", side, side)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))


def lambda_model(path: Path, marker: Path) -> None:
    """A .keras file whose Lambda layer runs Python (here: creates `marker`) when deserialized."""
    from pruneflow.tf_env import keras

    inputs = keras.Input((4,))
    where = str(marker)
    touched = keras.layers.Lambda(lambda x: (open(where, "w").close(), x)[1])(inputs)
    keras.Model(inputs, keras.layers.Dense(2)(touched)).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not run it again


def truncated_zip() -> bytes:
    """The first half of a valid zip archive (a copy cut short)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}" + " " * 5000)
        archive.writestr("model.weights.h5", os.urandom(5000))
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def prelu_model(path: Path) -> None:
    """A classifier with a learned-slope activation (per-channel weights the pruner does not slice)."""
    from pruneflow.models.classifier import save_model
    from pruneflow.tf_env import keras

    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.PReLU(name="learned_slope")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    save_model(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)), path)


def wrong_shape_weights(path: Path) -> None:
    from pruneflow.tf_env import keras

    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)


def set_(path: str, text: str | bytes) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    return write


def own_model(build: Callable[[], object], name: str = "own.keras", **params) -> Callable[[Path], None]:
    """Save the tf_keras model `build()` returns as models/own/<name> and point model.file at it."""
    def setup(root: Path) -> None:
        target = root / "models" / "own" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        build().save(target)
        edit_params(root, {"model": {"file": f"models/own/{name}", **params}})
    return setup


def keras3_model(root: Path) -> None:
    """A real Keras 3 `.keras` file (Keras 3 is installed beside tf_keras), written in its own process."""
    target = root / "models" / "own" / "k3.keras"
    target.parent.mkdir(parents=True, exist_ok=True)
    code = ("import keras; m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), "
            f"keras.layers.Dense(2, activation='softmax')]); m.save({str(target)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    edit_params(root, {"model": {"file": "models/own/k3.keras"}})


def _tiny(inputs_shape=(32, 32, 3), outputs: int = 2, activation: str | None = "softmax", two_outputs: bool = False):
    from pruneflow.tf_env import keras

    inputs = keras.Input(inputs_shape)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    head = keras.layers.Dense(outputs, activation=activation)(x)
    return keras.Model(inputs, [head, keras.layers.Dense(1)(x)] if two_outputs else head)


def own_lambda_model(root: Path) -> None:
    (root / "models" / "own").mkdir(parents=True, exist_ok=True)
    lambda_model(root / "models" / "own" / "lam.keras", root / "lambda_ran")
    edit_params(root, {"model": {"file": "models/own/lam.keras"}})


# (case, stage, setup(root), expected part of the one-line message)
REJECTED: list[tuple[str, str, Callable[[Path], None], str]] = [
    # params.yaml
    ("params: a word where a number belongs", "ingest",
     lambda r: edit_params(r, {"train": {"epochs": "ten"}}), "train.epochs='ten': Input should be a valid integer"),
    ("params: a boolean where a number belongs", "ingest",
     lambda r: edit_params(r, {"prune": {"frequency": True}}), "prune.frequency=True: Input should be a valid integer"),
    ("params: a quoted number", "ingest",
     lambda r: edit_params(r, {"prune": {"final_sparsity": "0.9"}}), "prune.final_sparsity='0.9': Input should be a valid number"),
    ("params: a mapping where a list belongs", "ingest",
     lambda r: edit_params(r, {"sweep": {"sparsities": {"a": 0.5}}}), "sweep.sparsities="),
    ("params: final sparsity 1", "ingest",
     lambda r: edit_params(r, {"prune": {"final_sparsity": 1.0}}), "prune.final_sparsity=1.0: Input should be less than 1"),
    ("params: negative initial sparsity", "ingest",
     lambda r: edit_params(r, {"prune": {"initial_sparsity": -0.1}}), "prune.initial_sparsity=-0.1: Input should be greater than or equal to 0"),
    ("params: a sweep sparsity above 1", "ingest",
     lambda r: edit_params(r, {"sweep": {"sparsities": [0.5, 1.2]}}), "sweep: sparsities=[0.5, 1.2]: allowed is a non-empty list"),
    ("params: end step before begin step", "ingest",
     lambda r: edit_params(r, {"prune": {"begin": 0.6, "end": 0.5}}), "begin=0.6, end=0.5: pruning needs at least 0.1 of the fine-tune between them; allowed: begin <= 0.4"),
    ("params: zero epochs", "ingest",
     lambda r: edit_params(r, {"train": {"epochs": 0}}), "train.epochs=0: Input should be greater than or equal to 1"),
    ("params: image below the architecture's minimum", "ingest",
     lambda r: edit_params(r, {"data": {"image_size": 16}}), "data.image_size=16 is below toy's smallest input; set data.image_size: 32 or more"),
    ("params: unknown top-level key", "ingest",
     lambda r: edit_params(r, {"sede": 1}), "unknown key 'sede'; allowed: seed, seeds, paths"),
    ("params: unknown key in a section", "ingest",
     lambda r: edit_params(r, {"train": {"epoch": 3}}), "unknown key 'train.epoch'; allowed: strategy, epochs"),
    ("params: unknown architecture", "ingest",
     lambda r: edit_params(r, {"model": {"architecture": "resnet50"}}), "model.architecture: 'resnet50' is not a keras.applications classifier; did you mean ResNet50? allowed: mobilenet_v2"),
    ("params: freeze_base without pretrained weights", "ingest",
     lambda r: edit_params(r, {"model": {"freeze_base": True}}), "freeze_base=true needs pretrained weights"),
    ("params: an .h5 model path", "ingest",
     lambda r: edit_params(r, {"paths": {"dense_model": "models/dense.h5"}}), "dense_model=models/dense.h5: allowed is a .keras file"),
    ("params: not YAML", "ingest", set_("params.yaml", "train: [unclosed\n"), "params.yaml: not valid YAML at line"),
    ("params: not a mapping", "ingest", set_("params.yaml", "- a\n- b\n"), "params.yaml: expected a mapping of sections, got list"),
    # data.folder
    ("data: folder missing", "ingest",
     lambda r: edit_params(r, {"data": {"folder": "data/absent"}}), "data.folder=data/absent: missing, not a directory"),
    ("data: an archive in place of the folder", "ingest",
     lambda r: (set_("data/raw.zip", b"PK\x03\x04")(r), edit_params(r, {"data": {"folder": "data/raw.zip"}})),
     "data.folder=data/raw.zip: a file, not a directory; expected a folder with one sub-folder per class (archives are not unpacked)"),
    ("data: empty folder", "ingest",
     lambda r: ((r / "data" / "empty").mkdir(), edit_params(r, {"data": {"folder": "data/empty"}})),
     "data.folder=data/empty: found 0 class sub-folder(s); need at least 2"),
    ("data: one class", "ingest",
     lambda r: (write_image_folder(r / "data" / "one", {"a": 5}), edit_params(r, {"data": {"folder": "data/one"}})),
     "data.folder=data/one: found 1 class sub-folder(s)"),
    ("data: a class with no image at all", "ingest",
     set_("data/raw/empty_class/notes.txt", "no images here"), "data/raw/empty_class: class folder has no readable image"),
    ("data: a class whose only image is corrupt", "ingest",
     set_("data/raw/broken/a.png", b"\x89PNG\r\n\x1a\n garbage"), "data/raw/broken: class folder has no readable image"),
    ("data: a class whose only image is a decompression bomb", "ingest",
     lambda r: ((r / "data" / "raw" / "bomb").mkdir(), bomb_png(r / "data" / "raw" / "bomb" / "b.png")),
     "data/raw/bomb: class folder has no readable image; allowed: .jpg, .jpeg, .png, .bmp files that decode, at most 67,108,864 pixels"),
    ("data: a class folder that is a symlink out of data.folder", "ingest",
     lambda r: (write_image_folder(r / "elsewhere", {"c": 3}), (r / "data" / "raw" / "c").symlink_to(r / "elsewhere" / "c")),
     "data/raw/c: class folder is a symlink to"),
    ("data: a class too small for train/val/test", "ingest",
     lambda r: write_image_folder(r / "data" / "raw", {"tiny": 2}), "class 'tiny' has 2 image(s); need at least 3"),
    # weights
    ("weights: file missing", "ingest",
     lambda r: edit_params(r, {"model": {"weights": "absent.weights.h5"}}),
     "model: weights='absent.weights.h5': allowed are null, 'imagenet' or an existing weights file"),
    ("weights: corrupt file", "train_dense",
     lambda r: (set_("bad.weights.h5", b"not hdf5")(r), edit_params(r, {"model": {"weights": "bad.weights.h5"}})),
     "model.weights='bad.weights.h5': cannot load"),
    ("weights: another model's weights (wrong shapes)", "train_dense",
     lambda r: (wrong_shape_weights(r / "other.weights.h5"), edit_params(r, {"model": {"weights": "other.weights.h5"}})),
     "model.weights='other.weights.h5': cannot load"),
    # model files
    ("model file: missing", "strip", lambda r: None, "models/pruned_wrapped.keras: model file missing"),
    ("model file: not a zip", "strip", set_("models/pruned_wrapped.keras", b"garbage"),
     "models/pruned_wrapped.keras: not a .keras model archive (BadZipFile)"),
    ("model file: truncated", "strip", lambda r: set_("models/pruned_wrapped.keras", truncated_zip())(r),
     "models/pruned_wrapped.keras: not a .keras model archive"),
    ("model file: a Lambda layer (code that runs on load)", "strip",
     lambda r: lambda_model(r / "models" / "pruned_wrapped.keras", r / "lambda_ran"),
     "models/pruned_wrapped.keras: refusing to load: it holds Lambda layers (Python code in the file)"),
    # channels
    ("params: a negative latency budget", "ingest",
     lambda r: edit_params(r, {"channels": {"budget": {"latency_ms": -1.0}}}),
     "channels.budget.latency_ms=-1.0: Input should be greater than 0"),
    ("params: a speed-up budget of at most 1", "ingest",
     lambda r: edit_params(r, {"channels": {"budget": {"speedup_x": 0.5}}}),
     "channels.budget.speedup_x=0.5: Input should be greater than 1"),
    ("params: an unknown budget format", "ingest",
     lambda r: edit_params(r, {"channels": {"budget": {"speedup_x": 2.0, "format": "fp16"}}}),
     "channels.budget.format='fp16': Input should be 'float', 'int8' or 'best'"),
    ("params: a budget with both a latency and a speed-up", "ingest",
     lambda r: edit_params(r, {"channels": {"budget": {"speedup_x": 2.0, "latency_ms": 1.0}}}),
     "channels.budget: give exactly one of latency_ms (> 0, a batch-1 p50 in ms) or speedup_x (> 1, over dense in "
     "the same format), e.g. {speedup_x: 2.0, format: int8}"),
    ("params: channel keep fraction 0", "ingest",
     lambda r: edit_params(r, {"channels": {"keep": 0.0}}), "channels.keep=0.0: Input should be greater than 0"),
    ("params: channel keep fraction above 1", "ingest",
     lambda r: edit_params(r, {"channels": {"keep": 1.5}}), "channels.keep=1.5: Input should be less than or equal to 1"),
    ("params: unknown channel criterion", "ingest",
     lambda r: edit_params(r, {"channels": {"criterion": "l3"}}), "channels.criterion='l3': Input should be 'l1', 'l2' or 'bn_scale'"),
    ("params: unknown channel scope", "ingest",
     lambda r: edit_params(r, {"channels": {"scope": "residual"}}), "channels.scope='residual': Input should be 'internal' or 'all'"),
    ("params: channel rounding multiple 0", "ingest",
     lambda r: edit_params(r, {"channels": {"multiple": 0}}), "channels.multiple=0: Input should be greater than or equal to 1"),
    ("params: the main keep fraction repeated in the channel series", "ingest",
     lambda r: edit_params(r, {"channels": {"keep": 0.5, "sweep_keeps": [0.35, 0.5]}}),
     "sweep_keeps=[0.35, 0.5] repeats keep=0.5: the main channel-pruned model is already the series' point at that "
     "fraction; remove 0.5 from sweep_keeps"),
    ("params: more gradual steps than fine-tune epochs", "ingest",
     lambda r: edit_params(r, {"channels": {"schedule": "gradual", "steps": 10, "epochs": 4}}), "steps=10 must be <= epochs=4"),
    ("params: a channel fine-tune learning rate of 0", "ingest",
     lambda r: edit_params(r, {"channels": {"learning_rate": 0.0}}), "channels.learning_rate=0.0: Input should be greater than 0"),
    ("model file: a layer the channel pruner cannot narrow", "channel_prune",
     lambda r: prelu_model(r / "models" / "dense.keras"),
     "channel pruning: layer 'learned_slope' (PReLU) is not supported; supported: Activation, "),
    # model.file: a classifier trained elsewhere (adopted by train_dense)
    ("model.file: missing", "train_dense", lambda r: edit_params(r, {"model": {"file": "models/own/absent.keras"}}),
     "model.file=models/own/absent.keras: no such file or folder; allowed: a .keras file, a .h5 file or a SavedModel folder"),
    ("model.file: not a model", "train_dense",
     lambda r: (set_("models/own/notes.keras", "just text")(r), edit_params(r, {"model": {"file": "models/own/notes.keras"}})),
     "model.file=models/own/notes.keras: not a model file"),
    ("model.file: a Keras 3 file", "train_dense", keras3_model,
     "model.file=models/own/k3.keras: saved by Keras 3."),
    ("model.file: two outputs", "train_dense", own_model(lambda: _tiny(two_outputs=True)),
     "has 1 inputs and 2 outputs; allowed: one image input and one class output"),
    ("model.file: an output that is neither probabilities nor logits", "train_dense",
     own_model(lambda: _tiny(activation="relu")), "gives neither class probabilities nor logits"),
    ("model.file: a Lambda layer", "train_dense", own_lambda_model,
     "model.file=models/own/lam.keras: it holds Lambda layers (Python code in the file), which safe loading refuses"),
    ("model.file: an input size that is not the data's", "train_dense", own_model(lambda: _tiny((40, 40, 3))),
     "takes 40x40 images but data.image_size is 32; set data.image_size: 40"),
    ("model.file: a class count that is not the folders'", "train_dense", own_model(lambda: _tiny(outputs=5)),
     "outputs 5 classes but the data has 2 class folders (with_mask, without_mask)"),
    ("params: an architecture keras.applications does not have", "ingest",
     lambda r: edit_params(r, {"model": {"architecture": "ResNet51"}}),
     "model.architecture: 'ResNet51' is not a keras.applications classifier; allowed: mobilenet_v2, mobilenet"),
    ("params: an input below the family's smallest", "ingest",
     lambda r: edit_params(r, {"model": {"architecture": "InceptionV3", "alpha": 1.0}}),
     "data.image_size=32 is below InceptionV3's smallest input; set data.image_size: 75 or more"),
    # command line
    ("channel_point: keep fraction out of range", "channel_point --keep 0", lambda r: None,
     "channel_point: --keep=0.0; allowed: --keep 0 < keep <= 1, e.g. --keep 0.5"),
    ("sweep_point: sparsity out of range", "sweep_point --sparsity 1.5 --schedule polynomial", lambda r: None,
     "sweep_point: --sparsity=1.5 --schedule=polynomial; allowed: --sparsity 0 < s < 1"),
]


@pytest.mark.parametrize(("stage", "setup", "expected"), [case[1:] for case in REJECTED],
                         ids=[case[0] for case in REJECTED])
def test_bad_input_is_one_line_exit_2_and_leaves_earlier_outputs_untouched(
    workspace: Path, capsys: pytest.CaptureFixture[str], stage: str, setup, expected: str
) -> None:
    setup(workspace)
    before = outputs(workspace)  # the earlier good outputs, plus whatever bad input the case planted
    capsys.readouterr()
    status = main(stage.split())
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("pruneflow: error: "), err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert outputs(workspace) == before  # no output changed, and the failed stage wrote no new file
    assert not (workspace / "lambda_ran").exists()  # the Lambda's code never ran
    assert not [p for p in workspace.rglob("*.pruneflow-tmp-*")]


def test_the_catalogue_has_at_least_25_rejected_cases() -> None:
    assert len({case[0] for case in REJECTED}) == len(REJECTED) >= 25


# Skipped and reported: the run succeeds; classes.json lists each file and metrics.json counts them.
def test_bad_files_are_skipped_and_counted_by_reason(workspace: Path) -> None:
    raw = workspace / "data" / "raw" / "with_mask"
    (raw / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = (raw / "img_000.png").read_bytes()
    (raw / "truncated.png").write_bytes(good[: len(good) // 2])
    (raw / "notes.txt").write_text("a non-image file")
    (raw / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    bomb_png(raw / "bomb.png")
    outside = workspace / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    (raw / "escape.png").symlink_to(outside)
    inside = raw / "img_001.png"
    (raw / "alias.png").symlink_to(inside)  # a symlink inside the folder is an ordinary image

    assert main(["ingest"]) == 0
    summary = yaml.safe_load((workspace / "data" / "prepared" / "classes.json").read_text())
    assert summary["skipped_counts"] == {"not_an_image": 2, "unreadable": 2, "too_large": 1, "outside_folder": 1}
    reasons = {Path(s["file"]).name: s["reason"] for s in summary["skipped"]}
    assert reasons == {"corrupt.jpg": "unreadable", "truncated.png": "unreadable", "notes.txt": "not_an_image",
                       ".DS_Store": "not_an_image", "bomb.png": "too_large", "escape.png": "outside_folder"}
    assert sum(summary["counts"].values()) == 13  # 12 images + the in-folder alias

    from pruneflow.evaluation.variants import data_summary
    assert data_summary(summary, {}, "digest")["skipped_files"] == summary["skipped_counts"]


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1"])
def test_any_colour_mode_is_read_as_rgb(workspace: Path, mode: str) -> None:
    raw = workspace / "data" / "raw" / "with_mask"
    image = Image.fromarray(np.full((24, 24, 3), 200, np.uint8)).convert(mode)
    image.save(raw / f"mode.{'jpg' if mode == 'CMYK' else 'png'}")
    assert main(["ingest"]) == 0
    cfg = load_config("params.yaml")
    summary = yaml.safe_load((cfg.paths.prepared / "classes.json").read_text())
    assert sum(summary["counts"].values()) == 13 and not summary["skipped"]


def test_a_file_in_place_of_the_params_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--params", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: cannot read params file (No such file or directory)" in capsys.readouterr().err


def without_override() -> None:
    """In the child: as root, give up the capabilities that ignore file permissions, so a read-only
    folder stops root's writes as it stops anyone's (a user without root needs nothing)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def cli(root: Path, preexec) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pruneflow", "ingest"], cwd=root, env=env, capture_output=True,
                          text=True, preexec_fn=preexec, timeout=300)


def test_a_read_only_output_folder_is_one_line_and_leaves_no_partial_file(workspace: Path) -> None:
    root = workspace
    before = outputs(root)
    (root / "data").chmod(0o555)
    try:
        result = cli(root, without_override)
    finally:
        (root / "data").chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("pruneflow: error: data/prepared: cannot write (Permission denied); make data "
                                     "writable or point paths.* elsewhere; the previous prepared, if any, is unchanged")
    assert outputs(root) == before
    assert not list(root.rglob("*.pruneflow-tmp-*"))


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(workspace: Path) -> None:
    root = workspace
    before = outputs(root)

    def small_disk() -> None:  # writes past 4 KB fail with EFBIG, as they would with ENOSPC on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    result = cli(root, small_disk)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("pruneflow: error: data/prepared: cannot write (File too large); free space on "
                                     "that disk (or raise the file size limit); the previous prepared, if any, is "
                                     "unchanged")
    assert outputs(root) == before
    assert not list(root.rglob("*.pruneflow-tmp-*"))
