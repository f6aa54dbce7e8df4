"""Data references that fit in a JSON config: `sample:criteo` (bundled rows) or a prepared data folder."""

from __future__ import annotations

from functools import lru_cache

from nasrec.data import PreparedData, load_sample


@lru_cache(maxsize=4)
def open_data(ref: str) -> PreparedData:
    """`sample:NAME` -> the bundled sample, prepared; anything else -> a prepared data folder."""
    if ref.startswith("sample:"):
        return load_sample(ref.removeprefix("sample:"))
    return PreparedData.open(ref)
