"""The zoo coverage tool (`python -m pruneflow.tools.zoo`): its table, its files, and a family the channel
pruner cannot rebuild reported with its reason, not a traceback. Two tiny registry entries at 32 px keep
it to seconds; the 18 real families are `make zoo`'s job (docs/zoo.md)."""

from __future__ import annotations

import json

import pytest

from pruneflow.models import zoo
from pruneflow.tf_env import keras
from pruneflow.tools import zoo as tool


def _tiny(transpose: bool):
    """A keras.applications-like constructor: conv → BN → ReLU → conv (→ Conv2DTranspose, which the
    channel pruner has no handler for)."""

    def build(include_top=False, weights=None, input_tensor=None, **_):
        x = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(input_tensor)
        x = keras.layers.BatchNormalization(name="bn1")(x)
        x = keras.layers.ReLU(name="relu1")(x)
        x = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(x)
        if transpose:
            x = keras.layers.Conv2DTranspose(8, 3, padding="same", name="up")(x)
        return keras.Model(input_tensor, x)

    return zoo.ZooEntry(build, "test entry", side=32)


@pytest.fixture
def tiny_families(monkeypatch):
    monkeypatch.setitem(zoo.FAMILIES, "TinyPlain", _tiny(transpose=False))
    monkeypatch.setitem(zoo.FAMILIES, "TinyTranspose", _tiny(transpose=True))


def test_zoo_tool_writes_table_json_csv_and_gives_failing_rebuild_its_reason(tiny_families, tmp_path, capsys):
    out = tmp_path / "zoo.md"
    code = tool.main(["--families", "TinyPlain,TinyTranspose", "--size", "32", "--latency-size", "32",
                      "--warmup", "1", "--runs", "3", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    page = out.read_text()
    header = next(line for line in page.splitlines() if line.startswith("| family"))
    for column in ("tfmot whole-model call", "magnitude prune", "channel rebuild", "params M before → after",
                   "MACs M before → after", "max abs Δ logits", "TFLite float", "p50 ms dense / rebuilt",
                   "dense / rebuilt x"):
        assert column in header
    assert "Traceback" not in page and "random" in page
    rows = {row["family"]: row for row in json.loads(out.with_suffix(".json").read_text())["rows"]}
    plain, transpose = rows["TinyPlain"], rows["TinyTranspose"]
    assert plain["magnitude"] == plain["channels"] == plain["tflite"] == "ok"
    assert plain["params_after"] < plain["params_before"] and plain["macs_after"] < plain["macs_before"]
    assert plain["max_rel_diff"] < 1e-4 and plain["p50_dense_ms"] > 0 and plain["speedup_x"] > 0
    assert transpose["magnitude"] == "ok"  # tfmot prunes Conv2DTranspose; only the channel pruner stops
    assert transpose["channels"] == "fails" and "Conv2DTranspose" in transpose["channels_reason"]
    assert "\n" not in transpose["channels_reason"] and "fails: " in page
    assert "speedup_x" not in transpose and transpose["tflite"] == "ok"  # the dense model still converts
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("family,")


def test_zoo_tool_refuses_unknown_family_in_one_line(tmp_path, capsys):
    code = tool.main(["--families", "NoSuchNet", "--out", str(tmp_path / "zoo.md")])
    err = capsys.readouterr().err
    assert code == 2 and "NoSuchNet" in err and "MobileNetV2" in err and "Traceback" not in err
    assert not (tmp_path / "zoo.md").exists()
