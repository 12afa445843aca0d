"""Small slips of issue 33 (defect 10), each with the behaviour that proves it fixed: PQAT's refusal
reason whole, train_dense's printed epoch the one its CSV log holds, a preset that counts only the values
it changed and leaves an adopted model's input side alone, and stage commands started by a python
without the dependencies (a plain shell under `.venv/bin/dvc repro`)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from pruneflow.config.params import load_config
from tests.helpers import REPO

# ----------------------------------------------------------------------------- a. PQAT's reason, whole


def test_pqat_refusal_keeps_tfmots_whole_reason_not_cut_mid_word() -> None:
    from pruneflow.deploy.pqat import PqatNotApplicable, pqat_model
    from pruneflow.tf_env import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.LayerNormalization(), keras.layers.Dense(2)])
    with pytest.raises(PqatNotApplicable) as refusal:  # tfmot's 8-bit registry has no LayerNormalization
        pqat_model(model, load_config(REPO / "params.yaml"), train=None, val=None)
    reason = str(refusal.value)
    assert len(reason) > 200  # the old cut
    assert reason.endswith("passing a `tfmot.quantization.keras.QuantizeConfig` instance to the "
                           "`quantize_annotate_layer` API.)")


# ----------------------------------------------------------------------------- b. train_dense's epoch


@pytest.mark.parametrize(("rows", "chosen"), [
    ([{"epoch": 0, "val_accuracy": 0.8}], 1),  # model.adopt: keep, its one row (docs/own-model.md: epoch 0)
    ([{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.9}, {"epoch": 3, "val_accuracy": 0.7}], 2),
], ids=["adopted_as_it_is", "trained"])
def test_train_dense_prints_the_best_epoch_as_its_csv_log_numbers_it(
        rows: list[dict], chosen: int, in_tmp: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    import tasks.train_dense as edge
    from pruneflow.models.fit import EpochLog

    cfg = load_config(REPO / "params.yaml")
    if rows[0]["epoch"] == 0:
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"file": Path("models/own/m.keras")})})
    log = EpochLog(cfg.paths.train_log)
    log.rows.extend(rows)
    images = (np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]))
    for name, stub in {"load_classes": lambda prepared: ["a", "b"], "load_split": lambda prepared, split: images,
                       "distribution": lambda strategy: None, "is_chief": lambda strategy: True,
                       "majority_baseline": lambda train, val: (0, 50.0), "quality_gate": lambda *args: None,
                       "save_model": lambda model, path: None,
                       "train_dense": lambda *args: (None, log, chosen),
                       "adopt_dense": lambda *args: (None, log, chosen)}.items():
        monkeypatch.setattr(edge, name, stub)
    edge.run(cfg)
    with open(cfg.paths.train_log, newline="") as f:
        best = max(csv.DictReader(f), key=lambda row: float(row["val_accuracy"]))
    assert f"at epoch {best['epoch']} of {cfg.paths.train_log}" in capsys.readouterr().out


# ----------------------------------------------------------------------------- c. presets


def _params_with_small_applied(root: Path, **edits: dict) -> Path:
    """The shipped params.yaml with preset small's values already in, then `edits` (section → keys)."""
    from pruneflow.config.presets import edit_params_text, preset_overrides

    text = edit_params_text((REPO / "params.yaml").read_text(), preset_overrides("small"))
    path = root / "params.yaml"
    path.write_text(edit_params_text(text, edits))
    return path


def test_a_preset_counts_and_lists_only_the_keys_whose_value_changed(
        in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pruneflow.__main__ import main

    params = _params_with_small_applied(in_tmp, data={"val_fraction": 0.1}, train={"min_steps": 300})
    assert main(["preset", "small"]) == 0
    assert capsys.readouterr().out.strip() == ("preset small: 2 key(s) changed in params.yaml: "
                                               "data.val_fraction 0.1 → 0.2, train.min_steps 300 → 600")
    before = params.read_bytes()
    assert main(["preset", "small"]) == 0  # a second time: nothing differs, nothing is written
    assert capsys.readouterr().out.strip() == "preset small: params.yaml already has every value; nothing written"
    assert params.read_bytes() == before


def test_a_preset_keeps_the_image_size_an_adopted_model_file_fixes(
        in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pruneflow.__main__ import main

    params = _params_with_small_applied(in_tmp, data={"image_size": 64, "val_fraction": 0.1},
                                        model={"file": "models/own/m.keras"})
    assert main(["preset", "small"]) == 0
    assert capsys.readouterr().out.strip() == ("preset small: 1 key(s) changed in params.yaml: data.val_fraction "
                                               "0.1 → 0.2; data.image_size kept at 64: set by model.file")
    data = yaml.safe_load(params.read_text())["data"]
    assert data["image_size"] == 64 and data["val_fraction"] == 0.2


# ----------------------------------------------------------------------------- d. a python without the deps


def _venv(root: Path) -> Path:
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("")
    return root / ".venv"


def _pyproject(root: Path, *requirements: str) -> Path:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\ndependencies = {list(requirements)!r}\n")
    return root / "pyproject.toml"


def test_a_python_without_the_dependencies_reruns_the_stage_in_the_repos_venv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pruneflow.__main__ import REEXEC, project_python

    monkeypatch.delenv(REEXEC, raising=False)
    venv, pyproject = _venv(tmp_path), _pyproject(tmp_path, "pyyaml==6.0.3", "no-such-distribution-pf33==1.0")
    assert project_python(venv, "/usr", pyproject) == venv / "bin" / "python"
    # ... but not the venv's own python (no loop), nor a second hop, nor an environment with every dependency
    assert project_python(venv, str(venv), pyproject) is None
    assert project_python(venv, "/usr", _pyproject(tmp_path, "pyyaml==6.0.3")) is None
    monkeypatch.setenv(REEXEC, "1")
    assert project_python(venv, "/usr", _pyproject(tmp_path, "no-such-distribution-pf33")) is None


def test_without_a_venv_a_missing_dependency_is_one_line_naming_activate() -> None:
    from pruneflow.__main__ import missing_module_line

    line = missing_module_line(ModuleNotFoundError("No module named 'pandas'", name="pandas"))
    assert line.startswith("pruneflow: error: ") and "'pandas'" in line and "source .venv/bin/activate" in line
    assert "\n" not in line
    assert missing_module_line(ModuleNotFoundError("x", name="pruneflow.nothing")) is None  # our bug: a traceback
