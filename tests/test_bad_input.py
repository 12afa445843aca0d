"""Bad input, case by case: each ends with one line naming the input and what is allowed, exit
status 2, no traceback, and the outputs of the earlier good run untouched.

The "Bad input" table in docs/operations.md lists the same cases and what each does. The cases we skip
and report (a run that succeeds and counts what it left out) are in tests/test_bad_input_skipped.py; an
output folder that cannot be written is in tests/test_bad_input_write_faults.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pruneflow.__main__ import main
from tests.helpers import write_image_folder
from tests.helpers_bad_input import (
    bomb_png,
    edit_params,
    ingested_workspace,
    keras3_model,
    lambda_model,
    outputs,
    own_lambda_model,
    own_model,
    prelu_model,
    set_,
    truncated_zip,
    wrong_shape_weights,
)


@pytest.fixture
def workspace(in_tmp: Path) -> Path:
    """The tiny ingested folder dataset, with stand-ins for later stages' models (`ingested_workspace`)."""
    return ingested_workspace(in_tmp)


def _tiny(inputs_shape=(32, 32, 3), outputs: int = 2, activation: str | None = "softmax", two_outputs: bool = False):
    from pruneflow.tf_env import keras

    inputs = keras.Input(inputs_shape)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    head = keras.layers.Dense(outputs, activation=activation)(x)
    return keras.Model(inputs, [head, keras.layers.Dense(1)(x)] if two_outputs else head)


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


def test_a_file_in_place_of_the_params_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--params", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: cannot read params file (No such file or directory)" in capsys.readouterr().err
