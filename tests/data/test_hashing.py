"""Categorical values are keyed by the 64-bit FNV-1a hash of their bytes: the textbook function, whatever the
mix of cell lengths in a chunk (long cells are hashed in groups of similar length, or one by one)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrec.data.parsing import fnv1a


def reference(data: bytes) -> int:
    h = 14695981039346656037
    for byte in data[: 1 << 20]:
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return h


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=40))
def test_every_cell_hashes_as_the_textbook_fnv1a(cells):
    buf = b"\t".join(cells)
    starts = np.cumsum([0] + [len(c) + 1 for c in cells[:-1]]).reshape(-1, 1)
    ends = starts + np.array([len(c) for c in cells]).reshape(-1, 1)
    got = fnv1a(np.frombuffer(buf, dtype=np.uint8), starts, ends)
    assert got.shape == (len(cells), 1) and [int(h) for h in got.ravel()] == [reference(c) for c in cells]


def test_long_cells_grouped_by_length_hash_as_the_textbook_fnv1a():
    rng = np.random.default_rng(0)
    lengths = [100] * 20 + [128] * 3 + [129] * 17 + [300] * 16 + [1000] * 3 + [4096] * 16 + [5000] * 2 + [7] * 5
    cells = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in rng.permutation(lengths)]
    buf = b",".join(cells)
    starts = np.cumsum([0] + [len(c) + 1 for c in cells[:-1]]).reshape(-1, 1)
    ends = starts + np.array([len(c) for c in cells]).reshape(-1, 1)
    got = fnv1a(np.frombuffer(buf, dtype=np.uint8), starts, ends)
    assert [int(h) for h in got.ravel()] == [reference(c) for c in cells]


def test_decimal_ids_up_to_18_digits_are_keyed_by_value_and_longer_ones_by_the_hash_of_their_text():
    """KDD's ids (`int` keys): `-?` and 1-18 digits by their number, anything else (DisplayURL's 19-20 digit
    64-bit hashes among them) by FNV-1a of the text; Criteo's hex ids by their number up to 16 digits."""
    from nasrec.data.parsing import cell_keys

    def keys(cells: list[bytes], kind: str) -> list[int]:
        buf = b"\t".join(cells)
        starts = np.cumsum([0] + [len(c) + 1 for c in cells[:-1]]).reshape(-1, 1)
        ends = starts + np.array([len(c) for c in cells]).reshape(-1, 1)
        return [int(k) for k in cell_keys(np.frombuffer(buf, dtype=np.uint8), starts, ends, kind).ravel()]

    ints = [b"123", b"007", b"-5", b"9" * 18, b"1" * 19, b"18446744073709551615", b"12a"]
    assert keys(ints, "int") == [123, 7, (1 << 64) - 5, int("9" * 18), *(reference(c) for c in ints[4:])]
    hexes = [b"05db9164", b"f" * 16, b"1" * 17, b"xyz"]
    assert keys(hexes, "hex") == [0x05DB9164, (1 << 64) - 1, reference(b"1" * 17), reference(b"xyz")]
