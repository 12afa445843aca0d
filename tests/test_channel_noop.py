"""A channel plan that removes nothing is no model: the plan says why (and which multiple would prune),
the stage writes only that record without fine-tuning, the readers leave it out and print the reason;
two points with one plan are said to be one. Toy models built here, untrained; nothing fine-tunes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pruneflow.artifacts.points import MODEL_FILE, POINT_FILE, is_model, same_plan_as
from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import nothing_to_remove
from pruneflow.channels.rebuild import group_widths, prune_channels
from pruneflow.channels.training import channel_point, uniform_baseline
from pruneflow.magnitude.stacked import stacked
from pruneflow.models.store import save_model
from pruneflow.report.channels import channel_sentences, channel_table
from pruneflow.report.headline import format_headline
from pruneflow.tf_env import keras

pytestmark = pytest.mark.timeout(60)
L = keras.layers
MULTIPLE, KEEP = 16, 0.5


def _narrow(head: str) -> keras.Model:
    """tfmot's guide model at 16 px (Conv2D 12 → MaxPool → Flatten → Dense 10), or with a global pooling
    in place of Flatten (both leave the 12 channels a group the pruner may narrow), or with a Reshape
    that mixes the channels with space (then they are fixed)."""
    inputs = keras.Input((16, 16, 1))
    x = L.MaxPooling2D()(L.Conv2D(12, 3, activation="relu", name="conv")(inputs))
    if head == "reshape":
        x = L.GlobalAveragePooling1D()(L.Reshape((-1, 6))(x))
    else:
        x = L.Flatten()(x) if head == "flatten" else L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, name="classes")(x))


def test_prunable_group_narrower_than_multiple_has_nothing_to_remove_and_a_multiple_that_prunes():
    model = _narrow("pool")
    nothing = nothing_to_remove(ChannelGraph(model), KEEP, "internal", MULTIPLE)
    assert nothing is not None
    assert nothing.reason().startswith("nothing to remove at multiple 16: 12 channels")
    assert (nothing.widest, nothing.pruning_multiple) == (12, 8)
    # checked with the pruner itself: 16 keeps all 12 channels, the suggested multiple narrows them
    assert group_widths(prune_channels(model, KEEP, "internal", "l2", MULTIPLE)[0], "internal") == {"conv": 12}
    narrowed = group_widths(prune_channels(model, KEEP, "internal", "l2", nothing.pruning_multiple)[0], "internal")
    assert narrowed == {"conv": nothing.kept_at_pruning} and nothing.kept_at_pruning < 12


def test_guide_model_has_nothing_to_remove_at_multiple_16_and_the_suggested_multiple_prunes_through_flatten():
    model = _narrow("flatten")
    nothing = nothing_to_remove(ChannelGraph(model), KEEP, "internal", MULTIPLE)
    assert nothing is not None
    record = nothing.record()
    assert record["reason"] == ("nothing to remove at multiple 16: 12 channels (channels.multiple 8 would prune: "
                                "keep 0.5 keeps 8 of 12)")
    assert (record["status"], record["widest_channels"], record["pruning_multiple"]) == ("nothing_to_remove", 12, 8)
    assert not is_model(record)
    # checked with the pruner itself: the suggested multiple narrows the conv and the Dense's 7*7 rows per channel
    narrow = prune_channels(model, KEEP, "internal", "l2", nothing.pruning_multiple)[0]
    assert group_widths(narrow, "internal") == {"conv": nothing.kept_at_pruning} and nothing.kept_at_pruning < 12
    assert narrow.get_layer("classes").kernel.shape == (7 * 7 * nothing.kept_at_pruning, 10)


def test_channels_a_reshape_mixes_with_space_have_nothing_to_remove_at_any_multiple_and_say_they_are_fixed():
    model = _narrow("reshape")
    nothing = nothing_to_remove(ChannelGraph(model), KEEP, "internal", MULTIPLE)
    assert nothing is not None
    record = nothing.record()
    assert record["reason"].startswith("nothing to remove at multiple 16: 12 channels (conv is fixed")
    assert (record["status"], record["widest_channels"], record["pruning_multiple"]) == ("nothing_to_remove", 12, None)
    assert not is_model(record)
    # no multiple would prune it, as the record says: even multiple 1 keeps every weight
    assert prune_channels(model, KEEP, "all", "l2", 1)[0].count_params() == model.count_params()


def test_plan_that_removes_a_channel_is_not_nothing_to_remove():
    assert nothing_to_remove(ChannelGraph(_narrow("pool")), KEEP, "internal", 8) is None


def _cfg(tmp_path: Path) -> SimpleNamespace:
    paths = SimpleNamespace(dense_model=tmp_path / "dense.keras", prepared=tmp_path / "absent",
                            channel=tmp_path / "channel", stacked=tmp_path / "stacked",
                            uniform_baseline=tmp_path / "uniform")
    channels = SimpleNamespace(scope="internal", criterion="l2", schedule="oneshot", multiple=MULTIPLE, keep=KEEP)
    model = SimpleNamespace(file=None, architecture="mobilenet_v2")
    return SimpleNamespace(paths=paths, channels=channels, model=model)


def test_channel_point_with_nothing_to_remove_writes_the_record_without_training(tmp_path):
    cfg = _cfg(tmp_path)
    save_model(_narrow("pool"), cfg.paths.dense_model)
    # `prepared` does not exist: loading data to fine-tune would fail
    point = channel_point(cfg, KEEP, cfg.paths.channel)
    assert sorted(p.name for p in cfg.paths.channel.iterdir()) == [POINT_FILE]
    written = json.loads((cfg.paths.channel / POINT_FILE).read_text())
    assert written == point and written["status"] == "nothing_to_remove" and written["keep"] == KEEP
    # the stages built on it write why there is nothing, not a model
    for record, folder in ((stacked(cfg), cfg.paths.stacked), (uniform_baseline(cfg), cfg.paths.uniform_baseline)):
        assert not is_model(record) and "nothing to remove at multiple 16: 12 channels" in record["reason"]
        assert not (folder / MODEL_FILE).exists()


def _record(acc: float, macs: float, **extra: object) -> dict:
    return {"test_accuracy_pct": acc, "int8_test_accuracy_pct": acc, "macs": macs, "params": 1000,
            "tflite_bytes": 4000, "tflite_gzip_bytes": 3000, "int8_tflite_bytes": 1500,
            "int8_tflite_gzip_bytes": 1200, "keras_gzip_bytes": 9000, **extra}


REASON = "nothing to remove at multiple 16: 12 channels (channels.multiple 8 would prune: keep 0.5 keeps 8 of 12)"


def test_report_and_headline_without_a_channel_model_list_none_and_print_the_reason():
    table = {"models": {"dense": _record(90.0, 2e6), "unstructured": _record(89.0, 2e6)},
             "not_applicable": {"channel": REASON, "stacked": f"no channel-pruned model to stack on: {REASON}",
                                "uniform_width": f"no channel-pruned model to match: {REASON}"},
             "latency": {}}
    sentences = channel_sentences(table, 16)
    assert REASON in sentences[0] and not any("Channel pruning keeps" in s for s in sentences)
    assert list(channel_table(table)["model"]) == ["dense", "unstructured"]
    metrics = {"data": {"image_size": 16}, "setup": {"latency_threads": 1},
               "channels": {name: _record(acc, 2e6) for name, acc in (("dense", 90.0), ("unstructured", 89.0))}}
    rows = format_headline(metrics, table["not_applicable"]).splitlines()
    assert not any(line.startswith("channel-pruned ") for line in rows)
    assert f"channel-pruned: no model — {REASON}" in rows
    assert any(line.startswith("uniform narrower width: no model — no channel-pruned model to match") for line in rows)


def test_points_with_one_plan_are_reported_as_one():
    widths = {"conv": 16, "block": 32}
    models = {"dense": _record(90.0, 2e6), "stacked": _record(89.0, 1e6), "channel": _record(89.5, 1e6, kind="channel", keep=0.5, multiple=16,
                                                              kept_channels=widths),
              "channel-0.35": _record(89.5, 1e6, kind="channel", keep=0.35, multiple=16, kept_channels=dict(widths)),
              "channel-0.25": _record(88.0, 6e5, kind="channel", keep=0.25, multiple=16,
                                      kept_channels={"conv": 16, "block": 16}),
              "budget-int8": _record(89.5, 1e6, kind="budget", multiple=16, kept_channels=dict(widths))}
    assert same_plan_as(models) == {"channel-0.35": "channel", "budget-int8": "channel"}
    table = {"models": models, "latency": {}}
    said = [s for s in channel_sentences(table, 16) if "keeps the same channels" in s]
    assert said == ["keep 0.35 keeps the same channels as keep 0.5 at multiple 16 (every group's width equal): one "
                    "plan, not a separate result.",
                    "budget int8 keeps the same channels as keep 0.5 at multiple 16 (every group's width equal): one "
                    "plan, not a separate result."]
    assert list(channel_table(table)["model"]) == ["dense", "channel", "stacked", "channel-0.25"]
