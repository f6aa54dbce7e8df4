"""The paper's stratified 10-fold split (seed 2018): folds 1-8 train, 9 validation, 10 test.

`stratified_folds` reproduces scikit-learn's `StratifiedKFold(n_splits, shuffle=True, random_state=seed)`
test-fold assignment exactly, with numpy only: fold k of sklearn's `split()` is `folds == k`.
Labels stay with their rows (the reference's split script shifted them by one row; not reproduced).
"""

from __future__ import annotations

import numpy as np

from nasrec.data.errors import DataError

SPLIT_SEED = 2018
N_FOLDS = 10
SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(8)),
    "valid": (8,),
    "test": (9,),
    "train+valid": tuple(range(9)),
    "all": tuple(range(10)),
}


def stratified_folds(labels: np.ndarray, n_splits: int = N_FOLDS, seed: int = SPLIT_SEED) -> np.ndarray:
    """0-based fold of every row (uint8), stratified by label, as sklearn's StratifiedKFold assigns it."""
    y = np.asarray(labels).ravel()
    if len(y) < n_splits:
        raise DataError(f"{len(y)} rows cannot be split into {n_splits} folds", rule="split")
    rng = np.random.RandomState(seed)
    _, first_index, inverse = np.unique(y, return_index=True, return_inverse=True)
    _, class_perm = np.unique(first_index, return_inverse=True)
    encoded = class_perm[inverse.ravel()]  # classes numbered by first appearance
    n_classes = len(first_index)
    counts = np.bincount(encoded, minlength=n_classes)
    if np.all(counts < n_splits):
        values, sizes = np.unique(y, return_counts=True)
        by_label = ", ".join(f"{v:g}: {n}" for v, n in zip(values, sizes, strict=True))
        raise DataError(
            f"{len(y)} rows, by label {by_label}: a stratified split into {n_splits} folds needs {n_splits} rows of a "
            "label",
            rule="split",
        )
    # Round robin over the sorted labels, as sklearn computes the per-fold allocation.
    ordered = np.repeat(np.arange(n_classes), counts)
    allocation = np.stack([np.bincount(ordered[i::n_splits], minlength=n_classes) for i in range(n_splits)])
    folds = np.empty(len(y), dtype=np.uint8)
    for k in range(n_classes):
        for_class = np.arange(n_splits, dtype=np.int32).repeat(allocation[:, k])
        rng.shuffle(for_class)
        folds[encoded == k] = for_class
    return folds


def split_indices(folds: np.ndarray, name: str) -> np.ndarray:
    """Row indices (ascending) of split `name`: train, valid, test, train+valid or all."""
    if name not in SPLITS:
        raise DataError(f"unknown split {name!r}; known: {', '.join(SPLITS)}", rule="split")
    if name == "all":
        return np.arange(len(folds))
    lut = np.zeros(256, dtype=bool)
    lut[list(SPLITS[name])] = True
    return np.flatnonzero(lut[folds])
