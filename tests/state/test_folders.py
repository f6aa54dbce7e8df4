"""Whole folders written atomically (`atomic_folder`) and stale temporaries cleaned (`clean_stale`)."""

from pathlib import Path

import pytest

from nasrec.state import atomic_folder, clean_stale


def test_a_folder_appears_whole_on_a_clean_exit_and_not_at_all_on_an_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.tmp-") and not target.exists()
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a" and list(tmp_path.iterdir()) == [target]

    other = tmp_path / "other"
    with pytest.raises(RuntimeError, match="boom"), atomic_folder(other) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [target]  # no `other`, no temporary


def test_an_empty_folder_is_replaced_and_a_filled_one_raises_with_the_temporary_removed(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("a")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with pytest.raises(OSError), atomic_folder(target) as tmp:  # filled meanwhile, e.g. by another process
        (tmp / "b.txt").write_text("b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and sorted(p.name for p in target.iterdir()) == [
        "a.txt"
    ]


def test_clean_stale_removes_the_temporaries_of_dead_processes_only(tmp_path: Path) -> None:
    target = tmp_path / "out"
    dead = tmp_path / ".out.tmp-999999999-deadbeef"  # no such pid
    alive = tmp_path / ".out.tmp-1-cafecafe"  # pid 1 runs
    unrelated = tmp_path / ".other.tmp-999999999-deadbeef"
    for folder in (dead, alive, unrelated):
        folder.mkdir()
    clean_stale(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, unrelated.name])
