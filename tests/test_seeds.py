"""Seeds (`seeds: N`): the headline models retrained with N-1 extra seeds as seed_run@<seed> matrix
stages (none for the default 1), the spread of their accuracies, and the extra seeds run end to end
under `dvc repro` and in parallel on Dask."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pruneflow.config.params import Config, load_config, parse_config
from pruneflow.config.studies import SeedPoint
from pruneflow.errors import PipelineError
from pruneflow.pipeline.stages import BY_NAME, SEED_RUN, generations, pipeline_stages
from pruneflow.stats.seeds import ACCURACY_FILE, MODELS, PREDICTIONS_FILE, seed_config, spread
from pruneflow.tools import dvc_yaml
from tests.builds import clone_layout, dvc, run_command
from tests.helpers import REPO, write_params

HEADLINE_STAGES = ("train_dense", "prune", "strip", "channel_prune", "stacked", "uniform_baseline")


def _seed_stages(cfg: Config) -> list[str]:
    return [stage.name for stage in pipeline_stages(cfg) if stage.name.startswith(f"{SEED_RUN}@")]


def test_default_is_one_seed_so_the_cold_run_has_no_seed_stage() -> None:
    cfg = load_config(REPO / "params.yaml")
    assert cfg.seeds == 1 and cfg.extra_seeds() == ()
    assert _seed_stages(cfg) == []
    assert yaml.safe_load(dvc_yaml.render(cfg))["stages"][SEED_RUN]["matrix"] == {"seed": []}


def test_three_seeds_make_two_seed_run_stages_named_by_the_seeds_after_the_base_one() -> None:
    cfg = parse_config({"seed": 42, "seeds": 3})
    assert cfg.extra_seeds() == (SeedPoint(43), SeedPoint(44))
    assert _seed_stages(cfg) == ["seed_run@43", "seed_run@44"]
    body = yaml.safe_load(dvc_yaml.render(cfg))["stages"][SEED_RUN]
    assert body["matrix"] == {"seed": [43, 44]}
    assert body["cmd"] == "python -m pruneflow seed_run --seed ${item.seed}"
    assert body["outs"] == [{"${paths.seeds}/${item.seed}": {"persist": True}}]
    assert [str(p) for s in pipeline_stages(cfg) if s.point == SeedPoint(44) for p in s.out_paths(cfg)] == ["seed_runs/44"]


def test_dvc_expands_the_generated_matrix_to_one_stage_per_extra_seed_and_none_for_one(tmp_path: Path) -> None:
    run_command(["git", "init", "-q"], tmp_path)
    dvc(tmp_path, "init", "-q")
    for seeds, expected in ((3, ["seed_run@8", "seed_run@9"]), (1, [])):
        write_params(tmp_path, {"seeds": seeds})
        (tmp_path / "dvc.yaml").write_text(dvc_yaml.render(load_config(tmp_path / "params.yaml")))
        listed = dvc(tmp_path, "stage", "list", "--name-only").stdout.split()
        assert [name for name in listed if name.startswith("seed_run")] == expected
        assert "train_dense" in listed


@pytest.mark.parametrize(("value", "expected"), [
    (0, "seeds=0: Input should be greater than or equal to 1"),
    ("three", "seeds='three': Input should be a valid integer"),
    (2.5, "seeds=2.5: Input should be a valid integer"),
    (101, "seeds=101: Input should be less than or equal to 100"),
])
def test_a_bad_seeds_value_is_rejected_with_one_line_naming_it(value, expected: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_config({"seeds": value}, "params.yaml")
    assert str(info.value) == f"params.yaml: {expected}"


def test_seeds_past_the_largest_seed_are_rejected() -> None:
    with pytest.raises(PipelineError, match=r"seeds=2 with seed=2147483647 reaches seed 2147483648"):
        parse_config({"seed": 2**31 - 1, "seeds": 2})


def test_seed_stages_fan_out_in_the_first_training_wave_beside_train_dense() -> None:
    cfg = parse_config({"seeds": 3})
    wave = next(w for w in generations(pipeline_stages(cfg), cfg) if any(s.name == "train_dense" for s in w))
    assert {"seed_run@43", "seed_run@44"} <= {s.name for s in wave}  # they read only the prepared data


def test_a_seed_run_reads_every_headline_param_but_not_the_seed_list() -> None:
    template = set(BY_NAME[SEED_RUN].params)
    assert "seeds" not in template and "seed" not in template  # raising `seeds` adds stages, reruns none
    for stage in HEADLINE_STAGES:
        for key in set(BY_NAME[stage].params) - {"seed"}:
            assert any(key == mine or key.startswith(f"{mine}.") for mine in template), (stage, key)


def test_seed_config_moves_every_headline_model_into_the_seed_folder() -> None:
    cfg = parse_config({})
    seeded = seed_config(cfg, 43, Path("seeds/43"))
    assert seeded.seed == 43 and seeded.train == cfg.train and seeded.paths.prepared == cfg.paths.prepared
    for key in ("dense_model", "stripped_model", "train_log", "prune_log", "channel", "stacked", "uniform_baseline"):
        assert Path("seeds/43") in getattr(seeded.paths, key).parents, key


def _write_seed(root: Path, seed: int, accuracy: dict[str, float | None]) -> None:
    folder = root / str(seed)
    folder.mkdir(parents=True)
    (folder / ACCURACY_FILE).write_text(json.dumps({"seed": seed, "test_images": 500, "accuracy_pct": accuracy}))


def test_spread_gives_mean_sample_sd_and_range_over_the_main_run_and_every_extra_seed(tmp_path: Path) -> None:
    cfg = parse_config({"seed": 42, "seeds": 3, "paths": {"seeds": str(tmp_path / "seeds")}})
    main = {"dense": 97.6, "unstructured": 97.6, "channel": 98.6, "stacked": 97.8, "uniform_width": None}
    _write_seed(tmp_path / "seeds", 43, {"dense": 97.0, "unstructured": 96.4, "channel": 98.0, "stacked": 97.8,
                                         "uniform_width": 95.2})
    _write_seed(tmp_path / "seeds", 44, {"dense": 98.2, "unstructured": 97.1, "channel": 97.3, "stacked": 97.8,
                                         "uniform_width": 96.0})
    result = spread(cfg, main)
    assert list(result) == list(MODELS)
    dense = result["dense"]
    assert dense["n"] == 3 and dense["per_seed"] == {42: 97.6, 43: 97.0, 44: 98.2}
    assert dense["mean_pct"] == pytest.approx(np.mean([97.6, 97.0, 98.2]))
    assert dense["sd_pct"] == pytest.approx(np.std([97.6, 97.0, 98.2], ddof=1))
    assert (dense["min_pct"], dense["max_pct"]) == (97.0, 98.2)
    assert result["stacked"]["sd_pct"] == 0.0
    # the main run has no baseline here: its two seeds still give a spread, without the main seed
    assert result["uniform_width"]["n"] == 2 and 42 not in result["uniform_width"]["per_seed"]
    assert result["uniform_width"]["sd_pct"] == pytest.approx(statistics.stdev([95.2, 96.0]))


def test_spread_of_one_seed_has_no_sd_and_reads_no_seed_folder(tmp_path: Path) -> None:
    cfg = parse_config({"paths": {"seeds": str(tmp_path / "absent")}})
    result = spread(cfg, {name: 90.0 for name in MODELS})
    assert {m: (r["n"], r["sd_pct"], r["mean_pct"]) for m, r in result.items()} == {m: (1, None, 90.0) for m in MODELS}


def test_spread_with_a_missing_seed_folder_says_to_regenerate_dvc_yaml(tmp_path: Path) -> None:
    cfg = parse_config({"seed": 42, "seeds": 3, "paths": {"seeds": str(tmp_path)}})
    _write_seed(tmp_path, 43, {name: 90.0 for name in MODELS})
    with pytest.raises(PipelineError) as info:
        spread(cfg, {name: 90.0 for name in MODELS})
    assert "seed_run --seed 44" in str(info.value) and "make dvc.yaml" in str(info.value)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- end to end (tiny)


def _tiny_project(root: Path, seeds: int) -> Path:
    """This project's code with the tiny params and `seeds`, its dvc.yaml regenerated for them."""
    clone_layout(root, dvc_yaml=False)
    write_params(root, {"seeds": seeds, "channels": {"epochs": 1}})
    (root / "data" / "raw").mkdir(parents=True)  # ingest's data.folder dependency (the tiny data is mnist5k)
    (root / "data" / "raw" / "README").write_text("unused: data.source is mnist5k\n")
    run_command([sys.executable, "-m", "pruneflow.tools.dvc_yaml"], root)
    run_command(["git", "init", "-q"], root)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    return root


# Over the suite's 120 s limit by design: a seed stage under DVC, then two on a Dask cluster with a Prefect server: 353 s measured on the loaded 2-core machine.
@pytest.mark.timeout(420)
@pytest.mark.slow
def test_extra_seeds_run_under_dvc_repro_and_in_parallel_on_dask_to_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import run_wave, task_runner
    from pruneflow.artifacts.files import digest

    root = _tiny_project(tmp_path / "project", seeds=3)
    cfg = load_config(root / "params.yaml")
    names = [f"seed_run@{p.name}" for p in cfg.extra_seeds()]
    assert names == ["seed_run@8", "seed_run@9"]  # the tiny config's seed is 7
    # DVC runs the first (each seed costs five trainings: one is enough to prove the stage)
    done = dvc(root, "repro", names[0])
    assert f"Running stage '{names[0]}'" in done.stdout
    assert "Running stage 'train_dense'" not in done.stdout  # a seed retrains from the prepared data alone
    folder = root / cfg.paths.seeds / "8"
    predictions = pd.read_csv(folder / PREDICTIONS_FILE)
    assert list(predictions.columns) == ["actual", *MODELS]
    record = json.loads((folder / ACCURACY_FILE).read_text())
    assert record["seed"] == 8 and len(predictions) == record["test_images"]
    for model in MODELS:
        assert record["accuracy_pct"][model] == pytest.approx(
            100.0 * float((predictions[model] == predictions["actual"]).mean()))
    assert dvc(root, "status", names[0]).stdout.strip() == "Data and pipelines are up to date."

    # the flow's fan-out: both seeds side by side on a 2-worker Dask cluster; seed 8 writes what DVC wrote
    copy = Path(shutil.copytree(root, tmp_path / "dask", symlinks=True))
    monkeypatch.chdir(copy)
    stages = [s for s in pipeline_stages(cfg) if s.name in names]
    shutil.rmtree(stages[0].out_paths(cfg)[0])

    @flow
    def fan_out():
        return run_wave(cfg, stages)

    with prefect_test_harness(server_startup_timeout=120):
        outputs = fan_out.with_options(task_runner=task_runner(dask_workers=2))()
    assert set(outputs) == set(names)
    assert list(pd.read_csv(copy / cfg.paths.seeds / "9" / PREDICTIONS_FILE).columns) == ["actual", *MODELS]
    for name in (ACCURACY_FILE, PREDICTIONS_FILE):
        assert digest(copy / cfg.paths.seeds / "8" / name) == digest(folder / name), name
