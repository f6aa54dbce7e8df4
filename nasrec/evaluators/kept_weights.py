"""The weights a scratch training keeps for the user (`nasrec evaluate --save-weights`): every try of every seed
is written beside the target as a partial file, and once the seeds are done the kept seed's file becomes the
target and the others are deleted, so a run that fails or is killed never leaves a half-chosen target."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from nasrec.compiler import StandaloneModel
from nasrec.compiler.standalone import save_weights
from nasrec.evaluators.base import SeedRun


class KeptWeights:
    """Where one genotype's trained weights go: `target`, a file `save_weights` writes (the state dict and the
    architecture's active digest, read back by `nasrec export --weights`)."""

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)

    def _partial(self, seed: int, retry: int | None = None) -> Path:
        tail = "" if retry is None else f"-try{retry}"
        return self.target.with_name(f"{self.target.name}.seed{seed}{tail}.partial")

    def save_try(self, model: StandaloneModel, seed: int, retry: int) -> None:
        """The weights of one try (its best weights, as scored)."""
        save_weights(model, self._partial(seed, retry))

    def keep_try(self, seed: int, kept: int, tries: int) -> None:
        """Of a seed's `tries` tries, `kept` is the one its score comes from; the others' files go."""
        for retry in range(tries):
            path = self._partial(seed, retry)
            if retry == kept:
                path.replace(self._partial(seed))
            else:
                path.unlink(missing_ok=True)

    def finish(self, runs: Sequence[SeedRun]) -> SeedRun:
        """The seed whose best validation log loss is lowest (the first where no seed validated: a model trained
        on train + valid) becomes `target`; the other seeds' files go. Returns the kept seed's run."""

        def best_valid(run: SeedRun) -> float:
            return min((p.log_loss for p in run.curve), default=float("inf"))

        kept = min(runs, key=best_valid)  # the first of equals
        for run in runs:
            path = self._partial(run.seed)
            if run is kept:
                path.replace(self.target)
            else:
                path.unlink(missing_ok=True)
        return kept

    def discard(self) -> None:
        """A failed genotype: every partial file beside `target` (its seeds' and tries')."""
        for path in self.target.parent.glob(f"{glob.escape(self.target.name)}.seed*.partial"):
            path.unlink(missing_ok=True)
