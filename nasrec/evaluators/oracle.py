"""Oracle data: synthetic rows whose labels are drawn from a known teacher, with each row's true click
probability stored beside its label, so a model's score can be measured without label noise (`regret`).

The teacher is either the planted-interactions teacher of `nasrec.data.synthetic` or any genotype network
(a file, `zoo:<name>`, or `random:<space>` for a sampled genotype) compiled at random initialisation. A
network teacher's logits are standardised on a calibration sample and multiplied by `scale` (the logit's
standard deviation: larger means more signal and a lower Bayes rate); the bias is then set so the mean click
probability is the target positive rate.
"""

from __future__ import annotations

import numpy as np
import torch

from nasrec.compiler import compile_standalone
from nasrec.data import PreparedData, make_synthetic
from nasrec.data.spec import FeatureSpec
from nasrec.data.synthetic import DEFAULT_CARDINALITIES
from nasrec.evaluators.seeding import seeded
from nasrec.genotype import Genotype, load, sample
from nasrec.genotype.zoo import load_zoo


def teacher_genotype(ref: str, seed: int = 0) -> Genotype:
    """`zoo:<name>`, `random:<space>` (sampled with `seed`) or a genotype file."""
    if ref.startswith("zoo:"):
        return load_zoo(ref.removeprefix("zoo:"))
    if ref.startswith("random:"):
        return sample(
            ref.removeprefix("random:"), "single-operator-any-connection", np.random.default_rng([seed, 7919])
        )
    return load(ref)


class GenotypeTeacher:
    """logit = scale * standardised(network(dense, sparse)) for a genotype network at random initialisation."""

    def __init__(
        self, genotype: Genotype, spec: FeatureSpec, scale: float = 1.0, seed: int = 0, layernorm: bool = True
    ) -> None:
        if scale <= 0:
            raise ValueError(f"teacher scale must be positive, got {scale}")
        self.genotype, self.scale = genotype, scale
        with seeded(seed):
            self.model = compile_standalone(genotype, spec, layernorm=layernorm).eval()
        self.mean, self.std = 0.0, 1.0
        self.description = f"genotype {genotype.digest()} x{scale:g}"

    @torch.no_grad()
    def raw(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        out = [
            self.model(
                torch.from_numpy(np.ascontiguousarray(dense[i : i + 8192], dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(sparse[i : i + 8192], dtype=np.int64)),
            )
            for i in range(0, len(dense), 8192)
        ]
        return torch.cat(out).double().numpy()

    def calibrate(self, dense: np.ndarray, sparse: np.ndarray) -> None:
        z = self.raw(dense, sparse)
        self.mean, self.std = float(z.mean()), float(z.std()) or 1.0

    def __call__(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        return self.scale * (self.raw(dense, sparse) - self.mean) / self.std


def make_oracle(
    n_rows: int, teacher: str | None = None, *, scale: float = 1.0, seed: int = 0, positive_rate: float = 0.25
) -> PreparedData:
    """Criteo-shaped oracle data. `teacher`: None (planted pairwise interactions), `zoo:<name>`,
    `random:<space>` or a genotype file."""
    if teacher is None:
        return make_synthetic(n_rows, seed=seed, positive_rate=positive_rate)
    spec = FeatureSpec.synthetic(13, DEFAULT_CARDINALITIES)
    net = GenotypeTeacher(teacher_genotype(teacher, seed), spec, scale=scale, seed=seed)
    calib = make_synthetic(20_000, seed=seed + 1, positive_rate=positive_rate)  # features only
    net.calibrate(calib.dense, np.asarray(calib.sparse))
    return make_synthetic(n_rows, seed=seed, positive_rate=positive_rate, teacher=net)
