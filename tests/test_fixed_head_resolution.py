"""Resolution-dependent stages on an adopted model with a fixed-size head (Flatten → Dense) run at the
model's own side and say so (issue 33); a fully convolutional model is still timed at the side asked.
In-process, on toy models adopted as the pipeline adopts a `model.file`, at 32 px (the smallest
`data.image_size`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pruneflow.config.params import parse_config
from pruneflow.models.adopt import adopted
from pruneflow.tf_env import keras

SIDE, CLASSES = 32, ["a", "b", "c"]
L = keras.layers
pytestmark = pytest.mark.timeout(60)


def flatten_head(side: int = SIDE) -> keras.Model:
    """A user's plain Sequential whose Dense kernel is sized by the input side (Flatten → Dense)."""
    return keras.Sequential([keras.Input((side, side, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                             L.Flatten(name="flat"), L.Dense(len(CLASSES), activation="softmax", name="classes")])


def pooled_head(side: int = SIDE) -> keras.Model:
    """The same convolution under a global pooling: any side runs with the same weights."""
    return keras.Sequential([keras.Input((side, side, 3)), L.Conv2D(4, 3, activation="relu"),
                             L.GlobalAveragePooling2D(), L.Dense(len(CLASSES), activation="softmax")])


def saved_dense(user: keras.Model, folder: Path) -> Path:
    """The user's model adopted (flat, raw pixels in) and saved where the pipeline keeps the dense model."""
    path = folder / "models" / "dense.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    adopted(user, Path("user.keras"), SIDE, CLASSES, "unit").save(path)
    return path


def images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, SIDE, SIDE, 3)).astype(np.uint8)


def bench_at(user: keras.Model, folder: Path, resolution: int) -> tuple[dict, dict]:
    """channel_bench's timing core on the adopted dense model, at `channels.resolution: resolution`."""
    from pruneflow.deploy.tflite import to_tflite
    from pruneflow.evaluation.channel_bench import timed_sides
    from pruneflow.models.store import load_model

    cfg = parse_config({"data": {"image_size": SIDE}, "bench": {"runs": 5, "warmup": 1, "threads": [1]},
                        "channels": {"resolution": resolution, "resolution_runs": 5, "budget": None,
                                     "budget_series": []}})
    dense = saved_dense(user, folder)
    float_file = folder / "dense.float.tflite"  # the data side's float file only: int8 is converted the same way
    float_file.write_bytes(to_tflite(load_model(dense), "float", None))
    return timed_sides(cfg, {"dense": dense}, {"dense": {"float": float_file}}, images(2, 2), images(16, 3), folder)


def test_an_adopted_flatten_dense_model_is_timed_at_its_own_side_and_the_setup_and_report_say_so(tmp_path: Path) -> None:
    from pruneflow.report.channels import method_sentence

    timings, setup = bench_at(flatten_head(), tmp_path, 224)  # the default channels.resolution
    assert set(timings) == {f"{SIDE}px_threads_1"} and setup["sides_px"] == [SIDE]
    assert setup["resolution_asked_px"] == 224 and setup["resolution_px"] == SIDE
    note = setup["resolution_note"]
    assert "fixed-size head (Flatten → Dense" in note and f"timed at the model's own {SIDE} px, not 224 px" in note
    assert setup["runs"] == {str(SIDE): 5}  # the data side keeps bench.runs: its timings stand for both
    sentence = method_sentence({"setup": setup})
    assert "No timings at channels.resolution 224 px" in sentence and note in sentence


def test_a_global_pooling_model_is_still_timed_at_the_asked_side(tmp_path: Path) -> None:
    timings, setup = bench_at(pooled_head(), tmp_path, 48)
    assert set(timings) == {f"{SIDE}px_threads_1", "48px_threads_1"} and setup["sides_px"] == [SIDE, 48]
    assert setup["resolution_px"] == 48 and setup["resolution_note"] is None
    assert all(entry["p50_ms"] > 0 for entry in timings["48px_threads_1"].values())


def test_at_resolution_names_the_fixed_size_head_instead_of_a_weight_shape_error() -> None:
    from pruneflow.deploy.resolution import at_resolution, usable_side

    model = adopted(flatten_head(), Path("user.keras"), SIDE, CLASSES, "unit")
    with pytest.raises(ValueError, match=r"cannot run at 224 px: fixed-size head \(Flatten → Dense 'classes': kernel"):
        at_resolution(model, 224)
    assert usable_side(model, SIDE) == (SIDE, None)
    reshaped = keras.Sequential([keras.Input((SIDE, SIDE, 3)), L.Conv2D(2, 3), L.Reshape((30 * 30 * 2,), name="to_vector"),
                                 L.Dense(len(CLASSES))])
    side, note = usable_side(reshaped, 224)
    assert side == SIDE and note.startswith("fixed-size head (Reshape 'to_vector' does not build at 224 px: ")
    pooled = adopted(pooled_head(), Path("user.keras"), SIDE, CLASSES, "unit")
    assert usable_side(pooled, 224) == (224, None) and at_resolution(pooled, 224).input_shape[1:3] == (224, 224)


def test_a_budget_at_another_side_is_measured_at_the_own_side_and_found_under_the_asked_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pruneflow.latency.measure import measure
    from pruneflow.latency.table import LatencyTable, read_tables

    monkeypatch.chdir(tmp_path)
    saved_dense(flatten_head(), tmp_path)
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    for split, count in (("train", 16), ("test", 2)):
        np.savez(tmp_path / "data" / "prepared" / f"{split}.npz", x=images(count, 4), y=np.zeros(count, np.int32))
    cfg = parse_config({"data": {"image_size": SIDE}, "bench": {"threads": [1]},
                        "channels": {"multiple": 2, "budget": {"speedup_x": 2.0, "format": "float", "resolution": 224},
                                     "budget_series": []}})
    tables, _ = measure(cfg)
    assert [t.setting.key for t in tables] == [f"float-t1-{SIDE}px"]  # one run: 224 px is the own side's
    assert tables[0].asked == ("float-t1-224px",) and "fixed-size head (Flatten → Dense" in tables[0].note
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / "table.json").write_text(__import__("json").dumps({"settings": [t.to_json() for t in tables]}))
    found = read_tables(folder)
    assert set(found) == {f"float-t1-{SIDE}px", "float-t1-224px"} and found["float-t1-224px"].setting.side == SIDE
    plain = LatencyTable(tables[0].setting, tables[0].layers, tables[0].dense_ms, tables[0].times)
    assert "asked" not in plain.to_json()  # a table at the side asked is written as before
