"""`PreparedData.open` checks its arrays' shapes against meta.json's row count and spec.json's features (from the
headers: no data read): a cut-short or replaced array is an error naming the folder, the file and both lengths,
where it was trained on or failed deep inside. And a Parquet file whose every row is bad is not asked whether it
is one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli.data import app
from nasrec.data import DataError, PreparedData, make_synthetic, prepare

ROWS = 40
AGAIN = "; remove this folder and prepare the data again"


def _folder(tmp_path: Path) -> Path:
    f = tmp_path / "t.csv"
    f.write_text("a,y,c\n" + "".join(f"{i},{i % 2},v{i % 4}\n" for i in range(ROWS)))
    prepare(f, "csv", out=tmp_path / "p", label="y", dense=["a"], sparse=["c"], progress=False)
    return tmp_path / "p"


def _refused(folder: Path) -> str:
    with pytest.raises(DataError) as e:
        PreparedData.open(folder)
    return str(e.value)


def test_a_meta_or_spec_file_that_does_not_validate_is_one_line_naming_it(tmp_path: Path) -> None:
    """It was pydantic's multi-line report, with its web address."""
    import json

    folder = _folder(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "rows": "many"}))
    reason = "meta.json: rows: Input should be a valid integer, unable to parse string as an integer"
    assert _refused(folder) == f"{folder}: damaged prepared data ({reason}){AGAIN}"
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "spec.json").write_text("{}")
    assert _refused(folder).startswith(f"{folder}: damaged prepared data (spec.json: ")
    assert "\n" not in _refused(folder)


def test_an_array_of_other_rows_than_meta_json_records_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    sparse = np.load(folder / "sparse.npy")
    np.save(folder / "sparse.npy", sparse[:30])  # a whole file, of another length
    assert _refused(folder) == f"{folder}: damaged prepared data (sparse.npy has 30 rows, meta.json records 40){AGAIN}"
    np.save(folder / "sparse.npy", np.concatenate([sparse, sparse]))
    assert _refused(folder) == f"{folder}: damaged prepared data (sparse.npy has 80 rows, meta.json records 40){AGAIN}"
    np.save(folder / "sparse.npy", sparse)
    np.save(folder / "folds.npy", np.zeros((ROWS, 2), dtype=np.uint8))  # the right rows, the wrong shape
    assert _refused(folder) == (f"{folder}: damaged prepared data (folds.npy has shape [40, 2], expected [40]){AGAIN}")
    np.save(folder / "folds.npy", np.uint8(0))
    assert _refused(folder) == (
        f"{folder}: damaged prepared data (folds.npy has no rows (a scalar), meta.json records 40){AGAIN}"
    )


def test_a_cut_short_array_names_the_rows_it_holds(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    label = folder / "label.npy"
    os.truncate(label, label.stat().st_size - 4 * 15 - 1)  # 15 float32 rows and a byte of the 25th gone
    assert _refused(folder) == (
        f"{folder}: damaged prepared data (label.npy holds 24 rows (cut short), meta.json records 40){AGAIN}"
    )
    os.truncate(label, 20)  # into the header: nothing to count
    assert _refused(folder).startswith(f"{folder}: damaged prepared data (label.npy: ")


def test_dense_columns_other_than_the_spec_names_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "dense.npy", np.zeros((ROWS, 2), dtype=np.float32))
    assert _refused(folder) == (
        f"{folder}: damaged prepared data (dense.npy has shape [40, 2], expected [40, 1] (meta.json's rows, "
        f"spec.json's features)){AGAIN}"
    )
    result = CliRunner().invoke(app, ["info", str(folder)], env={"COLUMNS": "200"})
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {folder}: damaged prepared data (dense.npy has shape [40, 2], expected [40, 1] (meta.json's "
        f"rows, spec.json's features)){AGAIN}\n"
    )


def test_oracle_probabilities_of_other_rows_are_refused(tmp_path: Path) -> None:
    data = make_synthetic(200, seed=0)
    assert data.prob is not None
    folder = tmp_path / "o"
    data.save(folder)
    np.save(folder / "prob.npy", np.asarray(data.prob)[:199])
    assert _refused(folder) == f"{folder}: damaged prepared data (prob.npy has 199 rows, meta.json records 200){AGAIN}"


def test_whole_folders_open_as_before(tmp_path: Path) -> None:
    data = PreparedData.open(_folder(tmp_path))
    assert (len(data), data.dense.shape, data.sparse.shape, data.folds.shape) == (ROWS, (ROWS, 1), (ROWS, 1), (ROWS,))
    assert isinstance(data.label, np.memmap)  # memory-mapped, not read


def test_a_parquet_file_of_bad_rows_is_not_asked_whether_it_is_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    f = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"click": pa.array([2, 3, 4]), "user": pa.array(["a", "b", "c"])}), f)
    with pytest.raises(DataError) as e:
        prepare(f, "parquet", out=tmp_path / "p", label="click", sparse=["user"], progress=False)
    assert str(e.value) == f"{f}: row 1: no valid rows; the first bad row: label 2 is not 0 or 1"
    text = tmp_path / "bad.csv"  # a text file still is: its rows may all be bad for being another format
    text.write_text("click,user\n2,a\n3,b\n")
    with pytest.raises(DataError) as e:
        prepare(text, "csv", out=tmp_path / "c", label="click", sparse=["user"], progress=False)
    assert str(e.value).endswith("(is this a csv file?)")
