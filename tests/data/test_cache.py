"""The prepared cache: hits without re-parsing, options in the key, temporaries never read back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nasrec.data.preparation as prep
from nasrec.data import DataError, PreparedData, prepare
from nasrec.data.samples import CRITEO_HEAD, sample_file
from nasrec.state.folders import machine_tag


def test_second_prepare_is_a_hit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NASREC_CACHE", str(tmp_path / "cache"))
    first = prepare(sample_file(CRITEO_HEAD), "criteo", progress=False)
    assert not first.cache_hit and first.path is not None and first.path.parent == tmp_path / "cache" / "prepared"
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.path.iterdir()}

    def no_parse(*a, **k):  # a hit must not parse again
        raise AssertionError("parsed again")

    monkeypatch.setattr(prep, "_build", no_parse)
    second = prepare(sample_file(CRITEO_HEAD), "criteo", progress=False)
    assert second.cache_hit and second.path == first.path
    assert {p.name: p.stat().st_mtime_ns for p in second.path.iterdir()} == mtimes
    with pytest.raises(AssertionError, match="parsed again"):  # other options: another key
        prepare(sample_file(CRITEO_HEAD), "criteo", min_count=3, progress=False)


def test_leftover_temp_folder_is_ignored_and_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "data"
    dead = tmp_path / f".data.tmp-{machine_tag()}-999999999-deadbeef"  # an interrupted run's folder (no such pid)
    dead.mkdir()
    (dead / "dense.npy").write_bytes(b"half written")
    data = prepare(sample_file(CRITEO_HEAD), "criteo", out=out, progress=False)
    assert len(data) == 10_000 and not dead.exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "dense.npy",
        "encoding.json",
        "folds.npy",
        "label.npy",
        "meta.json",
        "sparse.npy",
        "spec.json",
        "vocab.npy",
    ]


def test_a_cached_prepare_removes_a_killed_runs_temporary_of_another_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run killed mid-way with other options (another key, so another folder name) leaves a temporary no
    later run would ask for: the next preparation into the cache removes it, but not a live process's."""
    prepared = tmp_path / "cache" / "prepared"
    monkeypatch.setenv("NASREC_CACHE", str(tmp_path / "cache"))
    prepared.mkdir(parents=True)
    here = machine_tag()
    killed = prepared / f".criteo-big.tsv-0123456789abcdef.tmp-{here}-999999999-0c761f6e"
    live = prepared / f".criteo-big.tsv-fedcba9876543210.tmp-{here}-1-0c761f6e"  # pid 1 runs
    for folder in (killed, live):
        folder.mkdir()
        (folder / "dense.npy").write_bytes(b"half written")
    data = prepare(sample_file(CRITEO_HEAD), "criteo", encoding="hash", progress=False)
    assert data.path is not None
    assert sorted(p.name for p in prepared.iterdir()) == sorted([live.name, data.path.name])


def test_interrupted_run_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "stratified_folds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(sample_file(CRITEO_HEAD), "criteo", out=tmp_path / "d", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_folder_without_meta_is_not_data(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "dense.npy").write_bytes(b"")
    with pytest.raises(DataError, match="not a prepared data folder"):
        PreparedData.open(tmp_path / "x")
    with pytest.raises(DataError, match="folder exists and is not prepared data"):
        prepare(sample_file(CRITEO_HEAD), "criteo", out=tmp_path / "x", progress=False)


def test_out_with_other_data_is_refused(tmp_path: Path) -> None:
    prepare(sample_file(CRITEO_HEAD), "criteo", out=tmp_path / "d", progress=False)
    with pytest.raises(DataError, match="holds other prepared data"):
        prepare(sample_file(CRITEO_HEAD), "criteo", out=tmp_path / "d", min_count=5, progress=False)


def test_cache_root_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NASREC_CACHE")
    assert prep.cache_root() == Path(os.path.expanduser("~")) / ".cache" / "nasrec"


def test_concurrent_preparations_of_one_file_both_succeed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two processes (e.g. torchrun ranks) prepare the same file at once: the one that finishes second finds
    the other's folder in place, drops its own temporary and uses the finished one."""
    monkeypatch.setenv("NASREC_CACHE", str(tmp_path / "cache"))
    build, other = prep._build, []
    code = (
        "from nasrec.data import prepare; from nasrec.data.samples import CRITEO_HEAD, sample_file; "
        "print(prepare(sample_file(CRITEO_HEAD), 'criteo', progress=False).path)"
    )

    def build_while_another_finishes(*a, **k):
        out = build(*a, **k)  # our temporary is complete; another process completes the same preparation
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        other.append(Path(done.stdout.strip()))
        return out

    monkeypatch.setattr(prep, "_build", build_while_another_finishes)
    mine = prepare(sample_file(CRITEO_HEAD), "criteo", progress=False)
    assert mine.path == other[0] and len(mine) == 10_000
    assert [p.name for p in mine.path.parent.iterdir()] == [mine.path.name]  # no temporary left behind


def test_a_preparation_that_loses_the_race_to_other_data_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another process writes *other* prepared data (other options) to the same --out meanwhile: an error, not
    the other data returned as if it were this preparation's."""
    out, build = tmp_path / "data", prep._build
    code = (
        "from nasrec.data import prepare; from nasrec.data.samples import CRITEO_HEAD, sample_file; "
        f"prepare(sample_file(CRITEO_HEAD), 'criteo', out={str(out)!r}, min_count=3, progress=False)"
    )

    def build_while_another_writes_other_data(*a, **k):
        done = build(*a, **k)
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return done

    monkeypatch.setattr(prep, "_build", build_while_another_writes_other_data)
    with pytest.raises(DataError, match="another process wrote other prepared data here meanwhile"):
        prepare(sample_file(CRITEO_HEAD), "criteo", out=out, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # the other's folder, no temporary of ours


def test_out_naming_the_working_directory_or_a_root_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--out .` in an empty folder failed on an internal temporary's name ("..tmp-...: Device or resource
    busy")."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    for out, what in ((".", "the working directory"), ("../sub", "the working directory"), ("/", "a file system root")):
        with pytest.raises(DataError) as e:
            prepare(sample_file(CRITEO_HEAD), "criteo", out=out, progress=False)
        assert str(e.value) == f"{out}: is {what}; choose a new folder for the prepared data"
    assert [p.name for p in tmp_path.iterdir()] == ["work"] and [p.name for p in work.iterdir()] == ["sub"]
    assert not any((work / "sub").iterdir())
    monkeypatch.chdir(work)
    with pytest.raises(DataError) as e:  # not the working directory: a folder like any other
        prepare(sample_file(CRITEO_HEAD), "criteo", out="sub/../..", progress=False)
    assert str(e.value) == "sub/../..: folder exists and is not prepared data; remove it or choose another --out"


def test_a_damaged_cached_folder_names_the_folder_to_remove(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cached folder missing an array failed every later prepare without saying what to do about it."""
    monkeypatch.setenv("NASREC_CACHE", str(tmp_path / "cache"))
    data = prepare(sample_file(CRITEO_HEAD), "criteo", progress=False)
    assert data.path is not None
    folder = data.path
    del data
    (folder / "folds.npy").unlink()
    with pytest.raises(DataError) as e:
        prepare(sample_file(CRITEO_HEAD), "criteo", progress=False)
    assert str(e.value) == (
        f"{folder}: damaged prepared data (folds.npy: No such file or directory); remove this folder and prepare "
        "the data again"
    )
    assert (folder / "meta.json").is_file()  # never removed unasked: the fault may be passing (permissions, NFS)


def test_a_folder_prepared_under_the_earlier_csv_rules_says_so(tmp_path, monkeypatch):
    from nasrec.data import preparation

    src = tmp_path / "c.csv"
    src.write_text("click,user\n" + "".join(f"{i % 2},u{i % 7}\n" for i in range(40)))
    monkeypatch.setattr(preparation, "CSV_RULES", 1)  # as nasrec prepared CSVs before c7511f2
    prepare(src, "csv", out=tmp_path / "d", label="click", sparse=["user"])
    monkeypatch.setattr(preparation, "CSV_RULES", 2)
    with pytest.raises(DataError) as exc:
        prepare(src, "csv", out=tmp_path / "d", label="click", sparse=["user"])
    assert str(exc.value) == (
        f"{tmp_path / 'd'}: folder holds this file prepared under nasrec's earlier CSV rules (a quote inside a field "
        "or a blank dense cell made a bad row); remove it to prepare the file again"
    )
