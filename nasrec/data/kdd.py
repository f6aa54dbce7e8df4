"""KDD Cup 2012 track 2 `training.txt` (+ optional `userid_profile.txt` for Gender and Age).

training.txt: no header, 12 tab-separated fields `Click Impression DisplayURL AdID AdvertiserID Depth
Position QueryID KeywordID TitleID DescriptionID UserID`. Label = Click > 0; dense Impression, Depth,
Position (log(max(x, 0) + 1)); sparse the 8 ids, then Gender and Age joined from the profile file by
UserID (missing when no profile is given or the user is not in it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasrec.data.errors import DataError
from nasrec.data.parsing import Layout
from nasrec.data.rawio import iter_chunks
from nasrec.data.spec import KDD_CARDINALITIES, KDD_DENSE_NAMES, KDD_SPARSE_NAMES

HASH_CARDINALITIES = KDD_CARDINALITIES
COLUMNS = (
    "Click",
    "Impression",
    "DisplayURL",
    "AdID",
    "AdvertiserID",
    "Depth",
    "Position",
    "QueryID",
    "KeywordID",
    "TitleID",
    "DescriptionID",
    "UserID",
)
FILE_SPARSE = KDD_SPARSE_NAMES[:8]


class ProfileJoin:
    """UserID -> (Gender, Age) keys, by binary search in sorted arrays (no per-row Python work)."""

    def __init__(self, users: np.ndarray, gender: np.ndarray, age: np.ndarray) -> None:
        order = np.argsort(users, kind="stable")
        self.users, self.gender, self.age = users[order], gender[order], age[order]
        self.user_col = FILE_SPARSE.index("UserID")

    def __call__(self, keys: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        user = keys[:, self.user_col].view(np.int64)
        pos = np.clip(np.searchsorted(self.users, user), 0, max(len(self.users) - 1, 0))
        found = ~missing[:, self.user_col] & (len(self.users) > 0)
        if len(self.users):
            found &= self.users[pos] == user
        out = (
            np.stack([self.gender[pos], self.age[pos]], axis=1).astype(np.uint64)
            if len(self.users)
            else np.zeros((len(keys), 2), dtype=np.uint64)
        )
        return out, ~np.stack([found, found], axis=1)


def load_profile(path: str | Path) -> ProfileJoin:
    """Read userid_profile.txt (`UserID Gender Age`, tab-separated; one pass, per-line split)."""
    users, gender, age = [], [], []
    for first, buf in iter_chunks(path):
        lines = buf.split(b"\n")[:-1]
        numbered = [(first + i, ln.rstrip(b"\r")) for i, ln in enumerate(lines)]
        numbered = [(n, ln) for n, ln in numbered if ln.strip()]  # blank lines are skipped, as in training.txt
        parts = [ln.split(b"\t") for _, ln in numbered]
        for (line, _), p in zip(numbered, parts, strict=True):
            if len(p) != 3:
                raise DataError(
                    f"{len(p)} fields, expected 3 (UserID, Gender, Age)",
                    file=str(path),
                    line=line,
                    rule="field count",
                )
        flat = np.array([int(x) if x.isdigit() else -1 for p in parts for x in p], dtype=np.int64).reshape(-1, 3)
        bad = np.flatnonzero((flat < 0).any(axis=1))
        if len(bad):
            raise DataError(
                "profile values must be non-negative integers",
                file=str(path),
                line=numbered[int(bad[0])][0],
                rule="profile",
            )
        users.append(flat[:, 0])
        gender.append(flat[:, 1])
        age.append(flat[:, 2])
    if not users:
        raise DataError("empty profile file", file=str(path), line=1, rule="empty")
    return ProfileJoin(np.concatenate(users), np.concatenate(gender), np.concatenate(age))


def _no_profile(keys: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((len(keys), 2), dtype=np.uint64), np.ones((len(keys), 2), dtype=bool)


class LazyProfileJoin:
    """`load_profile(path)`'s join, read at its first use: a cache hit, which never parses a row, does not read
    the profile either (23.7M lines for the real KDD Cup 2012 one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._join: ProfileJoin | None = None

    def __call__(self, keys: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._join is None:
            self._join = load_profile(self.path)
        return self._join(keys, missing)


def kdd_layout(profile: str | Path | None = None) -> Layout:
    join = LazyProfileJoin(profile) if profile is not None else _no_profile
    return Layout(
        name="kdd",
        delimiter=b"\t",
        n_fields=12,
        label_col=0,
        label_rule="count",
        dense_cols=tuple(COLUMNS.index(c) for c in KDD_DENSE_NAMES),
        dense_names=KDD_DENSE_NAMES,
        sparse_cols=tuple(COLUMNS.index(c) for c in FILE_SPARSE),
        sparse_names=FILE_SPARSE,
        key_kind="int",
        extra_sparse=join,
        extra_names=KDD_SPARSE_NAMES[8:],
    )
