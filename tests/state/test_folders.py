"""Whole folders written atomically (`atomic_folder`) and stale temporaries cleaned (`clean_stale`)."""

import os
import re
from pathlib import Path

import pytest

from nasrec.state.folders import atomic_folder, clean_stale, clean_stale_in, machine_tag, temporary_name


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


def test_clean_stale_removes_this_machines_temporaries_of_dead_processes_only(tmp_path: Path) -> None:
    target, here = tmp_path / "out", machine_tag()
    dead = tmp_path / f".out.tmp-{here}-999999999-deadbeef"  # no such pid
    alive = tmp_path / f".out.tmp-{here}-1-cafecafe"  # pid 1 runs
    elsewhere = tmp_path / f".out.tmp-{'0' * 8 if here != '0' * 8 else '1' * 8}-999999999-deadbeef"
    legacy = tmp_path / ".out.tmp-999999999-deadbeef"  # no machine named: whose it is cannot be known
    unrelated = tmp_path / f".other.tmp-{here}-999999999-deadbeef"
    for folder in (dead, alive, elsewhere, legacy, unrelated):
        folder.mkdir()
    clean_stale(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, elsewhere.name, legacy.name, unrelated.name]
    )


def test_a_temporary_names_its_machine_and_process(tmp_path: Path) -> None:
    name = temporary_name(tmp_path / "out")
    assert re.fullmatch(rf"\.out\.tmp-{machine_tag()}-{os.getpid()}-[0-9a-f]{{8}}", name)
    assert re.fullmatch("[0-9a-f]{8}", machine_tag()) and machine_tag() == machine_tag()


def test_clean_stale_in_removes_this_machines_dead_temporaries_of_any_target(tmp_path: Path) -> None:
    here = machine_tag()
    other_machine = "0" * 8 if here != "0" * 8 else "1" * 8
    dead = [tmp_path / f".a-1.tmp-{here}-999999999-deadbeef", tmp_path / f".b.csv-2.tmp-{here}-999999998-00"]
    kept = [
        tmp_path / f".c.tmp-{here}-1-cafecafe",  # pid 1 runs
        tmp_path / f".d.tmp-{here}-{os.getpid()}-cafecafe",  # this process's own
        tmp_path / f".e.tmp-{other_machine}-999999999-deadbeef",  # another machine's
        tmp_path / ".f.tmp-999999999-deadbeef",  # no machine named
        tmp_path / "g",
    ]
    for folder in (*dead, *kept):
        folder.mkdir()
    (dead[0] / "dense.npy").write_bytes(b"half")
    (tmp_path / f".h.tmp-{here}-999999997-00").write_bytes(b"a file")  # atomic_open's temporaries are files
    clean_stale_in(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
    clean_stale_in(tmp_path / "absent")  # no folder: nothing to do
