"""Preparation keeps its encoding (encoding.json, vocab.npy) and `RowEncoder` encodes raw rows exactly as the
prepared rows were encoded: the bundled samples' raw lines give their prepared arrays, bit for bit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.data import DataError, RowEncoder, load_sample, make_synthetic, prepare
from nasrec.data.inputs import input_contract, read_encoding
from nasrec.data.samples import SAMPLES, sample_file
from tests.data.test_formats import _kdd


def raw_lines(name: str) -> list[bytes]:
    """A bundled sample's data lines, in preparation's order (the Avazu header dropped)."""
    fmt, files = SAMPLES[name]
    lines: list[bytes] = []
    for f in files:
        text = gzip.decompress(sample_file(f).read_bytes()).split(b"\n")
        lines += text[1 if fmt == "avazu" else 0 : -1 if text[-1] == b"" else None]
    return lines


@pytest.mark.parametrize(("name", "n_dense", "vocab_keys"), [("criteo", 13, 17_487), ("avazu", 1, 2_976)])
def test_the_raw_lines_of_a_sample_encode_to_its_prepared_arrays(name, n_dense, vocab_keys):
    data = load_sample(name)
    vocab = np.load(data.path / "vocab.npy", allow_pickle=False)
    assert vocab.dtype == np.uint64 and len(vocab) == vocab_keys == sum(c - 2 for c in data.spec.cardinalities)
    encoder = RowEncoder.from_prepared(data)
    dense, sparse = encoder.encode(raw_lines(name))
    assert dense.dtype == np.float32 and sparse.dtype == np.int64 and dense.shape == (len(data), n_dense)
    assert np.array_equal(dense, data.dense) and np.array_equal(sparse, data.sparse)
    assert encoder.sparse_names == list(data.spec.sparse_names) and encoder.dense_names == list(data.spec.dense_names)


def test_criteo_rows_as_unlabelled_lines_and_as_dicts_encode_alike():
    data = load_sample("criteo")
    lines = raw_lines("criteo")[:50]
    encoder = RowEncoder.from_prepared("sample:criteo")
    want = data.dense[:50], data.sparse[:50]
    unlabelled = [line.split(b"\t", 1)[1].decode() for line in lines]
    names = ["I" + str(i) for i in range(1, 14)] + ["C" + str(i) for i in range(1, 27)]
    dicts = [dict(zip(names, (c or None for c in line.split("\t")), strict=False)) for line in unlabelled]
    for got in (encoder.encode(unlabelled, labelled=False), encoder.encode(dicts)):
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_an_unseen_value_is_other_a_missing_one_0_and_a_rare_one_other():
    encoder = RowEncoder.from_prepared("sample:criteo")
    known = raw_lines("criteo")[0].decode().split("\t")
    dense, sparse = encoder.encode([{"I1": 3, "C1": known[14], "C2": "ffffffff"}, {"I1": "-4"}])
    assert dense[:, 0].tolist() == pytest.approx([np.log(4.0), 0.0]) and dense[:, 1:].sum() == 0
    assert sparse[0, :2].tolist() == [2, 1] and sparse[0, 2:].sum() == 0 and sparse[1].tolist() == [0] * 26


def test_a_hash_prepare_of_raw_rows_is_reproduced(tmp_path):
    data = load_sample("criteo-head", encoding="hash", out=tmp_path / "h")
    encoding = read_encoding(data.path)
    assert encoding is not None and encoding.encoding == "hash" and encoding.hash_sizes == list(data.spec.cardinalities)
    assert not (data.path / "vocab.npy").exists()
    dense, sparse = RowEncoder.from_prepared(tmp_path / "h").encode(raw_lines("criteo-head"))
    assert np.array_equal(dense, data.dense) and np.array_equal(sparse, data.sparse)
    assert int(sparse[0, 0]) == 0x68FD1E64 % (encoding.hash_sizes[0] - 1) + 1  # the first row's C1, uncapped


@pytest.mark.parametrize("encoding", ["vocab", "hash"])
def test_a_csv_with_bad_rows_is_reproduced_for_the_rows_it_kept(tmp_path, encoding):
    rows = ["click,price,user,item,extra"] + [f"{i % 2},{i * 0.5},u{i % 7},it{i % 3},x" for i in range(40)]
    rows[5] = "1,abc,u1,it1,x"  # a bad dense value: skipped
    rows[9] = "0,1"  # too few fields: skipped
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    kw = {"hash_sizes": [11, 5]} if encoding == "hash" else {"min_count": 6}
    data = prepare(tmp_path / "c.csv", "csv", label="click", dense=["price"], sparse=["user", "item"],
                   encoding=encoding, out=tmp_path / "p", progress=False, **kw)  # fmt: skip
    kept = [r for i, r in enumerate(rows[1:], 1) if i not in (5, 9)]
    dense, sparse = RowEncoder.from_prepared(tmp_path / "p").encode(kept)
    assert len(data) == 38 and np.array_equal(dense, data.dense) and np.array_equal(sparse, data.sparse)
    if encoding == "vocab":  # u1 and u4 lost a row each to the bad rows: u0, u2, u3 seen 6 times, kept
        assert data.spec.cardinalities == (5, 5) and sparse[:7, 0].tolist() == [2, 1, 3, 4, 1, 1, 2]
    with pytest.raises(DataError, match=r"^row 2: column price: 'abc' is not a number$"):
        RowEncoder.from_prepared(tmp_path / "p").encode([rows[1], rows[5]])


def test_a_kdd_row_joins_the_profile_it_was_prepared_with(tmp_path):
    train, profile = _kdd(tmp_path)
    data = prepare(train, "kdd", kdd_profile=profile, min_count=1, out=tmp_path / "k", progress=False)
    lines = [ln for ln in train.read_bytes().split(b"\n") if ln]
    with pytest.raises(DataError, match="prepared with a KDD user profile: give it again"):
        RowEncoder.from_prepared(tmp_path / "k")
    dense, sparse = RowEncoder.from_prepared(tmp_path / "k", kdd_profile=profile).encode(lines)
    assert np.array_equal(dense, data.dense) and np.array_equal(sparse, data.sparse)
    assert (sparse[:, 8:] > 0).any()  # Gender and Age joined


def test_a_folder_prepared_before_the_encoding_was_kept_trains_but_the_encoder_refuses_it(tmp_path):
    prepare(sample_file(SAMPLES["avazu"][1][0]), "avazu", out=tmp_path / "old", progress=False)
    (tmp_path / "old" / "encoding.json").unlink()
    (tmp_path / "old" / "vocab.npy").unlink()
    from nasrec.data import PreparedData

    assert len(next(iter(PreparedData.open(tmp_path / "old").batches(16))).label) == 16  # still trains
    with pytest.raises(DataError) as info:
        RowEncoder.from_prepared(tmp_path / "old")
    assert str(info.value) == (
        f"{tmp_path / 'old'}: prepared before nasrec kept its vocabulary: prepare the data again (into a new "
        "--out, or remove this folder first)"
    )
    synthetic = make_synthetic(100).save(tmp_path / "syn")
    with pytest.raises(DataError, match="synthetic data not prepared from raw rows: there is no encoding to apply"):
        RowEncoder.from_prepared(synthetic)


def test_the_encoding_json_names_the_layout_transform_and_encoding():
    data = load_sample("avazu")
    kept = json.loads((data.path / "encoding.json").read_text())
    assert (kept["format"], kept["encoding"], kept["min_count"], kept["dense_transform"]) == (
        "avazu",
        "vocab",
        2,
        "constant",
    )
    assert kept["constant_dense"] == 0.0 and kept["sparse"][:3] == ["id", "hour", "C1"] and kept["label"] == "click"


def test_rows_that_are_not_one_row_each_are_refused():
    encoder = RowEncoder.from_prepared("sample:criteo")
    for rows, message in (
        ([{"I1": 1}, "1\t2"], "rows are either all text lines or all dicts, not both"),
        ([{"nope": 1}], "row 1: no column 'nope' (known: I1, "),
        (["1\t2\t3", ""], "row 2: an empty line, expected one row"),
        (["1\t2\n3"], "row 1: several lines, expected one row"),
        (["1\t2\t3"], "row 1: 3 fields, expected 14 to 40"),
    ):
        with pytest.raises(DataError) as info:
            encoder.encode(rows)
        assert str(info.value).startswith(message)
    assert [a.shape for a in encoder.encode([])] == [(0, 13), (0, 26)]


def test_prepare_hits_a_folder_of_the_same_file_either_way(tmp_path: Path):
    first = prepare(sample_file(SAMPLES["avazu"][1][0]), "avazu", out=tmp_path / "a", progress=False)
    again = prepare(sample_file(SAMPLES["avazu"][1][0]), "avazu", out=tmp_path / "a", progress=False)
    assert not first.cache_hit and again.cache_hit


def test_parquet_rows_as_dicts_of_typed_values_encode_as_prepared(tmp_path):
    """Parquet has no text lines: dicts of its typed values (a float NaN missing, booleans true/false as a
    sparse value, None missing) encode to the prepared arrays."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 60
    table = pa.table(
        {
            "click": [i % 2 == 0 for i in range(n)],
            "price": [i * 0.7 if i % 5 else float("nan") for i in range(n)],
            "user": [f"u{i % 4}" if i % 6 else None for i in range(n)],
            "item": [i % 3 for i in range(n)],
            "flag": [i % 4 == 0 for i in range(n)],
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    data = prepare(tmp_path / "a.parquet", "parquet", label="click", dense=["price"], sparse=["user", "item", "flag"],
                   out=tmp_path / "p", progress=False)  # fmt: skip
    encoder = RowEncoder.from_prepared(tmp_path / "p")
    dense, sparse = encoder.encode(table.select(["price", "user", "item", "flag"]).to_pylist())
    assert data.spec.cardinalities == (6, 5, 4) and sparse[:3].tolist() == [[0, 2, 2], [2, 3, 3], [3, 4, 3]]
    assert np.array_equal(dense, data.dense) and np.array_equal(sparse, data.sparse)
    with pytest.raises(DataError, match=r"^Parquet data has no text lines: give each row as a dict"):
        encoder.encode(["0,1,u1,2,true"])


def test_a_damaged_encoding_json_is_one_line_naming_the_file_and_the_key(tmp_path):
    data = prepare(sample_file(SAMPLES["avazu"][1][0]), "avazu", out=tmp_path / "p", progress=False)
    path = tmp_path / "p" / "encoding.json"
    kept = json.loads(path.read_text())
    del kept["encoding"]
    path.write_text(json.dumps(kept))
    want = (
        f"{tmp_path / 'p'}: encoding.json is damaged (encoding: Field required): prepare the data again (into a new "
        "--out, or remove this folder first)"
    )
    with pytest.raises(DataError) as info:
        RowEncoder.from_prepared(tmp_path / "p")
    assert str(info.value) == want
    assert input_contract(data) is None  # training and export go on without the contract
    shown = CliRunner().invoke(main.app, ["data", "info", str(tmp_path / "p")], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    row = "│ kept for serving │ encoding.json is damaged"  # the rest wraps with the path's length
    assert row in shown.stdout


def test_the_input_contract_names_a_folder_by_its_absolute_path(tmp_path, monkeypatch):
    prepare(sample_file(SAMPLES["avazu"][1][0]), "avazu", out=tmp_path / "p", progress=False)
    monkeypatch.chdir(tmp_path)  # the folder given relative, as `--data p` from here
    from nasrec.data import PreparedData

    facts = input_contract(PreparedData.open("p"), "p")
    assert facts is not None and facts["data"] == str(tmp_path.resolve() / "p")
    monkeypatch.chdir(tmp_path.parent)  # served from elsewhere: the recorded folder still opens
    assert RowEncoder.from_prepared(facts["data"]).encoding.encoding == "vocab"
    assert input_contract(load_sample("criteo"), "sample:criteo")["data"] == "sample:criteo"
