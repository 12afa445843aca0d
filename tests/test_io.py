"""Atomic writes, reproducible gzip, content digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pruneflow.artifacts.files import atomic_dir, atomic_path, digest, gzip_bytes, write_json


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half-writ")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_atomic_path_replaces_on_success_with_the_same_suffix(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "m.keras"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".keras" and not tmp.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_atomic_dir_swaps_whole_directories_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "export"
    with atomic_dir(target) as out:
        (out / "a").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as out:
            (out / "b").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as out:
        (out / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_gzip_is_byte_identical_for_equal_input() -> None:
    data = bytes(range(256)) * 100
    assert gzip_bytes(data) == gzip_bytes(data)
    assert len(gzip_bytes(b"\0" * 100_000)) < 1_000


def test_digest_of_a_directory_changes_with_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("1")
    first = digest(tmp_path / "d")
    (tmp_path / "d" / "x").write_text("2")
    second = digest(tmp_path / "d")
    (tmp_path / "d" / "x").rename(tmp_path / "d" / "y")
    assert len({first, second, digest(tmp_path / "d")}) == 3


def test_json_is_written_sorted_for_stable_diffs(tmp_path: Path) -> None:
    write_json(tmp_path / "m.json", {"b": 1, "a": {"d": 2, "c": 3}})
    assert (tmp_path / "m.json").read_text().index('"a"') < (tmp_path / "m.json").read_text().index('"b"')


def test_a_published_folder_has_the_usual_mode_not_a_private_temporary_one(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_a_stage_publishes_all_its_outputs_at_its_end_and_none_when_it_fails(tmp_path: Path) -> None:
    from pruneflow.artifacts.files import stage_commit, write_bytes

    model, folder = tmp_path / "model.bin", tmp_path / "export"
    model.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with stage_commit():
            write_bytes(model, b"new")
            with atomic_dir(folder) as out:
                (out / "x").write_text("new")
            assert model.read_bytes() == b"old" and not folder.exists()  # nothing is published mid-stage
            raise RuntimeError("the stage fails after writing both")
    assert model.read_bytes() == b"old" and not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # and its temporaries are gone
    with stage_commit():
        write_bytes(model, b"new")
        with atomic_dir(folder) as out:
            (out / "x").write_text("new")
    assert model.read_bytes() == b"new" and (folder / "x").read_text() == "new"


def test_a_folder_killed_mid_swap_comes_back_whole_even_when_the_next_write_fails(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    target = tmp_path / "export"
    with atomic_dir(target) as out:
        (out / "a").write_text("old")
    real_replace, calls = os.replace, []

    def die_at_the_second_rename(src, dst) -> None:
        calls.append(src)
        if len(calls) == 2:  # the process dies here: old folder moved aside, the new one not yet in
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", die_at_the_second_rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as out:
            (out / "b").write_text("new")
    monkeypatch.setattr(os, "replace", real_replace)
    assert not target.exists() and (tmp_path / ".export.old" / "a").read_text() == "old"

    with pytest.raises(ValueError):
        with atomic_dir(target):
            raise ValueError("the rerun fails too")
    assert sorted(p.name for p in target.iterdir()) == ["a"] and (target / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # the killed run's temporaries are swept
