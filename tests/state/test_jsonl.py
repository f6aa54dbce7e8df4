"""JSONL logs: reading never changes the file; repairing a torn last line is its own, explicit step."""

import pytest
from pydantic import BaseModel

from nasrec.state import Stage, append_jsonl, read_jsonl, repair_jsonl


class Rec(BaseModel):
    key: str
    value: int


def _log(tmp_path, tail: bytes = b""):
    path = tmp_path / "log.jsonl"
    for i in range(3):
        append_jsonl(path, Rec(key=f"k{i}", value=i))
    with open(path, "ab") as fh:
        fh.write(tail)
    return path


def test_reading_a_log_with_a_torn_last_line_leaves_it_byte_identical(tmp_path):
    path = _log(tmp_path, b'{"key": "k3", "val')
    before = path.read_bytes()
    assert [r.value for r in read_jsonl(path, Rec)] == [0, 1, 2]
    assert path.read_bytes() == before


def test_repair_cuts_the_torn_line_with_a_warning_and_restores_a_lost_newline(tmp_path):
    path = _log(tmp_path, b'{"key": "k3", "val')
    clean = path.read_bytes()[: -len(b'{"key": "k3", "val')]
    with pytest.warns(RuntimeWarning, match=r"log.jsonl, line 4: dropped an incomplete last record"):
        assert repair_jsonl(path, Rec) is True
    assert path.read_bytes() == clean
    assert repair_jsonl(path, Rec) is False and path.read_bytes() == clean
    path.write_bytes(clean[:-1])  # a complete record whose newline was lost
    assert repair_jsonl(path, Rec) is True and path.read_bytes() == clean
    assert repair_jsonl(tmp_path / "none.jsonl", Rec) is False and not (tmp_path / "none.jsonl").exists()


def test_a_bad_line_in_the_middle_is_an_error_naming_it(tmp_path):
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    lines[1] = '{"key": "k1"}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        ValueError, match=r"log.jsonl, line 2: not a valid Rec record: value: Field required; fix or delete that line$"
    ):
        read_jsonl(path, Rec)
    lines[1] = "garbage!!"  # not JSON: the line is named, not a position within it
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        read_jsonl(path, Rec)
    assert str(err.value).endswith(
        "log.jsonl, line 2: not a valid Rec record: Invalid JSON: expected value; fix or delete that line"
    )


def test_a_stage_does_only_what_its_log_lacks(tmp_path):
    path = _log(tmp_path, b'{"key": "k9"')  # killed mid-write
    made = []

    def make(i: int) -> Rec:
        made.append(i)
        return Rec(key=f"k{i}", value=10 * i)

    with pytest.warns(RuntimeWarning, match="dropped an incomplete last record"):
        stage = Stage(path, Rec, key=lambda r: r.key)
    out = stage.run([4, 0, 3, 2], key=lambda i: f"k{i}", make=make)
    assert made == [4, 3] and [r.value for r in out] == [40, 0, 30, 2]
    assert [r.key for r in read_jsonl(path, Rec)] == ["k0", "k1", "k2", "k4", "k3"]
    again = Stage(path, Rec, key=lambda r: r.key)
    assert len(again) == 5 and again.run([3], key=lambda i: f"k{i}", make=make)[0].value == 30 and made == [4, 3]


def test_a_complete_last_line_that_is_not_a_record_is_an_error_and_nothing_is_cut(tmp_path):
    path = _log(tmp_path, b'{"key": "k3"}\n')  # written whole (its newline is there), e.g. by another version
    before = path.read_bytes()
    with pytest.raises(
        ValueError, match=r"log.jsonl, line 4: not a valid Rec record: value: Field required; fix or delete that line$"
    ):
        Stage(path, Rec, key=lambda r: r.key)
    assert path.read_bytes() == before
    path.write_bytes(before[:-1])  # the same record without its newline: whole JSON, so no torn write
    with pytest.raises(
        ValueError, match=r"log.jsonl, line 4: not a valid Rec record: value: Field required; fix or delete that line$"
    ):
        Stage(path, Rec, key=lambda r: r.key)
    assert path.read_bytes() == before[:-1]
