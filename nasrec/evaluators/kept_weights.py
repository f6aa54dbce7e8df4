"""The weights a scratch training keeps for the user (`nasrec evaluate --save-weights`, the search's
`final/nasrecnet.pt`): each seed's candidate is written beside the target as a partial file, and once every
seed is done the seed that validated best becomes the target and the others are deleted, so a run that fails
or is killed never leaves a half-chosen target."""

from __future__ import annotations

import glob
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasrec.compiler import StandaloneModel
from nasrec.compiler.standalone import recorded_digest, save_weights
from nasrec.errors import UsageError
from nasrec.evaluators.base import SeedRun
from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.genotype.schema import Genotype


def holds_weights_of(path: str | Path, genotype: Genotype) -> bool:
    """Whether `path` holds weights `save_weights` wrote for `genotype`'s architecture (its active digest); False
    where the file is absent, unreadable or records none (its tensors are mapped, not read)."""
    try:
        return recorded_digest(load_checkpoint(path, mmap=True)) == genotype.active_digest()
    except UsageError:
        return False


class KeptWeights:
    """Where one genotype's trained weights go: `target`, a file `save_weights` writes (the state dict and the
    architecture's active digest, read back by `nasrec export --weights`)."""

    def __init__(self, target: str | Path, inputs: dict[str, Any] | None = None) -> None:
        self.target = Path(target)
        self.inputs = inputs  # the training data's input contract, recorded in the file's build
        self.valid: dict[int, float] = {}  # seed -> the best validation log loss of its saved try

    def _partial(self, seed: int) -> Path:
        return self.target.with_name(f"{self.target.name}.seed{seed}.partial")

    def offer(self, model: StandaloneModel, seed: int, best_valid: float | None, kept: bool) -> None:
        """A finished try of `seed` (its best weights, as scored) whose best validation log loss is `best_valid`
        (None: it never validated). Saved when `kept` (the try the seed's score comes from: one that learned) or
        when it validated better than the seed's try saved so far (of tries that all learned nothing, the best is
        kept; the first of equals, as `FullTrain` keeps it). One file per seed at a time."""
        value = best_valid if best_valid is not None and math.isfinite(best_valid) else math.inf
        if kept or seed not in self.valid or value < self.valid[seed]:
            save_weights(model, self._partial(seed), self.inputs)
            self.valid[seed] = value

    def finish(self, runs: Sequence[SeedRun]) -> int:
        """The seed whose saved try validated best (the first where none validated: e.g. a model retrained on
        train + valid is judged by the validation of the run that chose its epochs) becomes `target`; the other
        seeds' files go. Returns the kept seed."""
        kept = min((run.seed for run in runs), key=lambda seed: self.valid.get(seed, math.inf))
        for run in runs:
            if run.seed == kept:
                self._partial(run.seed).replace(self.target)
            else:
                self._partial(run.seed).unlink(missing_ok=True)
        return kept

    def discard(self) -> None:
        """Every partial file beside `target` (a failed or interrupted training's, or one an earlier killed run
        left)."""
        for path in self.target.parent.glob(f"{glob.escape(self.target.name)}.seed*.partial"):
            path.unlink(missing_ok=True)
