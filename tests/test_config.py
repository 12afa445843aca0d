"""params.yaml parsing: defaults valid, bad keys and values rejected with one line naming them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from pruneflow.config.params import Config, load_config, parse_config
from pruneflow.errors import PipelineError
from tests.helpers import REPO


def test_shipped_params_yaml_spells_out_exactly_the_code_defaults() -> None:
    cfg = load_config(REPO / "params.yaml")
    assert cfg == Config()
    assert (cfg.data.source, cfg.prune.final_sparsity, cfg.model.weights) == ("mnist5k", 0.9, None)


def test_config_is_frozen() -> None:
    cfg = parse_config({})
    with pytest.raises(ValidationError, match="frozen"):
        cfg.prune.final_sparsity = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"prune": {"final_sparsity": 1.0}}, "prune.final_sparsity=1.0"),
        ({"prune": {"final_sparsity": -0.1}}, "prune.final_sparsity=-0.1"),
        ({"prune": {"begin": 0.6, "end": 0.5}}, "begin=0.6, end=0.5: pruning needs at least 0.1 of the fine-tune"),
        ({"prune": {"initial_sparsity": 0.5, "final_sparsity": 0.2}}, "initial_sparsity=0.5 must be <="),
        ({"train": {"epochs": 0}}, "train.epochs=0"),
        ({"data": {"image_size": 16}}, "data.image_size=16 is below mobilenet_v2's smallest input; set data.image_size: 32"),
        ({"data": {"image_size": 4}, "model": {"file": "models/own/mnist.keras"}},
         "data.image_size=4: Input should be greater than or equal to 8"),
        ({"data": {"source": "imagenet"}}, "data.source='imagenet'"),
        ({"model": {"architecture": "resnet"}}, "model.architecture: 'resnet' is not a keras.applications classifier"),
        ({"model": {"freeze_base": True}}, "freeze_base=true needs pretrained weights"),
        ({"model": {"weights": "no/such/file.h5"}}, "weights='no/such/file.h5'"),
        ({"train": {"batch_size": "big"}}, "train.batch_size='big'"),
        ({"prune": {"sparsity": 0.5}}, "unknown key 'prune.sparsity'; allowed: scope, initial_sparsity"),
        ({"extra_section": {}}, "unknown key 'extra_section'; allowed: seed, seeds, paths"),
        ({"train": {"epochs": 2, "warmup_epochs": 2}}, "warmup_epochs=2 must be < epochs=2"),
        ({"paths": {"export": "models", "dense_model": "models/dense.keras"}}, "export=models overlaps dense_model=models/dense.keras"),
        ({"paths": {"prepared": "data"}}, "paths.prepared=data overlaps data.folder=data/raw"),
        ({"paths": {"prepared": "reports", "sparsity_table": "x.csv", "per_class_table": "y.csv"}},
         "prepared=reports overlaps"),
    ],
)
def test_bad_params_raise_one_line_naming_the_key(raw: dict, expected: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_config(raw, "params.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("params.yaml: ")


def test_out_of_range_message_states_the_allowed_bound() -> None:
    with pytest.raises(PipelineError, match="less than 1"):
        parse_config({"prune": {"final_sparsity": 1.2}})


def test_frozen_base_may_be_pruned_whole_or_only_its_head(tmp_path: Path) -> None:
    """Both are real choices (docs/own-data.md, "Transfer learning": tfmot masks frozen weights one-shot, never
    retrains them); tests/test_transfer.py shows what each does."""
    weights = tmp_path / "base.h5"
    weights.write_bytes(b"x")
    for scope in ("all", "head"):
        cfg = parse_config({"model": {"weights": str(weights), "freeze_base": True}, "prune": {"scope": scope}})
        assert cfg.model.freeze_base and cfg.prune.scope == scope


def test_params_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes(b"seed: \xff\xfe\n")
    with pytest.raises(PipelineError, match="not UTF-8 text"):
        load_config(path)


def test_unreadable_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("prune:\n  final_sparsity: [0.8\n")
    with pytest.raises(PipelineError, match=r"not valid YAML at line \d"):
        load_config(path)


def test_cli_bad_params_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("prune:\n  final_sparsity: 1.5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pruneflow", "prune", "--params", str(params)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"pruneflow: error: {params}: prune.final_sparsity=1.5: Input should be less than 1"]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("changes, message", [
    ({"prune": {"sparsity_m_by_n": [4, 4]}}, r"prune: sparsity_m_by_n=\[4, 4\]: allowed is \[m, n\] with 0 < m < n"),
    ({"prune": {"sparsity_m_by_n": [2, 4], "policy": "xnnpack"}}, "cannot be combined"),
    ({"prune": {"policy": "xnnpack"}}, "prune.policy=xnnpack needs model.form: xnnpack"),
    ({"model": {"form": "xnnpack", "architecture": "mobilenet"}}, "form=xnnpack is built for architecture mobilenet_v2"),
    ({"export": {"formats": ["int8"]}}, r"must include float"),
    ({"export": {"formats": ["float", "float"]}}, "each format at most once"),
    ({"export": {"formats": ["float", "int4"]}}, r"export.formats.1='int4'"),
    ({"bench": {"threads": [0]}}, r"threads=\[0\]: allowed is a list of distinct thread counts in 1..64"),
])
def test_deployment_options_are_validated_with_one_line(changes, message) -> None:
    from pruneflow.config.params import parse_config

    with pytest.raises(PipelineError, match=message):
        parse_config(changes)


def test_an_adopted_model_takes_its_own_side_below_mobilenets_smallest() -> None:
    # the tfmot guide's MNIST classifier takes 28x28: MobileNet's 32 px floor is MobileNet's, not the file's
    cfg = parse_config({"model": {"file": "models/own/mnist.keras"}, "data": {"image_size": 28}}, "params.yaml")
    assert cfg.data.image_size == 28


def test_dvc_yaml_tool_refuses_bad_params_in_one_line_and_leaves_dvc_yaml(tmp_path, capsys) -> None:
    from pruneflow.tools import dvc_yaml

    (tmp_path / "params.yaml").write_text("data:\n  image_size: 16\n")
    out = tmp_path / "dvc.yaml"
    out.write_text("kept\n")
    assert dvc_yaml.main(["--params", str(tmp_path / "params.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pruneflow: error: ") and err.count("\n") == 1 and "data.image_size: 32" in err
    assert out.read_text() == "kept\n"
