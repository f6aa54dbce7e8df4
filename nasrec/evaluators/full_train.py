"""`FullTrain`: a genotype's standalone model trained from scratch with the recipe, scored on a split."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from nasrec.compiler import compile_standalone
from nasrec.evaluators.base import Score, derive_seed, register_evaluator
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.scoring import make_score, subset_batches
from nasrec.evaluators.training import TrainConfig, Trainer
from nasrec.genotype import Genotype


class FullTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="`sample:criteo` or a prepared data folder")
    train: TrainConfig = TrainConfig(epochs=1.0)
    layernorm: bool = True
    cap: int | None = Field(default=None, description="embedding rows per table (None: full tables)")
    train_split: str = Field(default="train", description="`train`, or `train+valid` for a final model")
    eval_split: str = Field(default="valid", description="`valid` or `test`")
    eval_batch_size: int = 4096
    seed: int = 0
    device: str = Field(default="cpu", description="cpu, cuda or auto")


@register_evaluator("full")
class FullTrain:
    """Train each genotype's standalone model from scratch (seeded by the genotype's digest) and score it."""

    name = "full"
    Config = FullTrainConfig

    def __init__(self, **config: Any) -> None:
        self.cfg = FullTrainConfig(**config)
        self.data = open_data(self.cfg.data)

    @property
    def config(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Score]:
        return [self._one(g) for g in genotypes]

    def _one(self, genotype: Genotype) -> Score:
        cfg, start = self.cfg, time.perf_counter()
        seed = derive_seed(cfg.seed, genotype.digest())
        torch.manual_seed(seed)
        spec = self.data.spec.with_cap(cfg.cap)
        device = resolve_device(cfg.device)
        model = compile_standalone(genotype, spec, layernorm=cfg.layernorm).to(device)
        train = self.data.split(cfg.train_split)
        steps = train.full_batches(cfg.train.batch_size)
        recipe = cfg.train.model_copy(update={"seed": seed})
        Trainer(model, recipe, label=f"train {genotype.digest()}", device=device).fit(
            lambda epoch: train.batches(recipe.batch_size, shuffle=True, seed=seed, epoch=epoch, drop_last=True),
            steps)
        model.eval()
        batches = subset_batches(self.data, cfg.eval_split, None, cfg.eval_batch_size)
        with torch.no_grad():
            logits = torch.cat([model(b.dense.to(device), b.sparse.to(device)) for b in batches]).cpu().numpy()
        labels = torch.cat([b.label for b in batches]).numpy()
        return make_score(genotype, spec, labels, logits, time.perf_counter() - start, self.name, self.config)
