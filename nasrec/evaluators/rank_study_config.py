"""The ranking study's configuration: the genotypes, the reference (scratch training over seeds) and each
supernet variant with the proxies scored on it (`nasrec.evaluators.rank_study` runs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE, SupernetTrainingConfig
from nasrec.evaluators.training import TrainConfig
from nasrec.genotype.sampling import DEFAULT_SAMPLER

TRIVIAL = ("params", "flops")
Finetune = Literal["none", "fast", "fast-std", "paper", "bias", "scale"]
FINETUNES: tuple[Finetune, ...] = ("none", "fast", "paper")


class SupernetVariant(BaseModel):
    """One supernet of the study and the proxies scored on it (`none`: inherited weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampler: str = "single-operator-any-connection"
    train: TrainConfig = SUPERNET_RECIPE
    space: str | None = Field(default=None, description="a space for this variant (None: the study's)")
    op_map: dict[str, str] = Field(
        default_factory=dict, description="operators renamed in every genotype, e.g. dot -> dot-unbalanced"
    )
    finetune: tuple[Finetune, ...] = FINETUNES
    center_logits: bool = Field(default=False, description="train on batch-centred logits (see the supernet config)")
    seed: int | None = Field(default=None, ge=0, description="this supernet's training seed (None: the study's seed)")
    distill: bool = Field(default=False, description="in-place distillation (see the supernet config)")


class RankStudyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = "sample:criteo"
    space: str = "nasrec-full"
    n: int = Field(default=50, ge=3, description="genotypes sampled")
    sampler: str = DEFAULT_SAMPLER
    seed: int = Field(default=0, ge=0)
    supernets: dict[str, SupernetVariant] = Field(default_factory=lambda: {"main": SupernetVariant()})
    reference_seeds: int = Field(default=2, ge=1, description="scratch trainings averaged per genotype")
    full: TrainConfig = SCRATCH_RECIPE
    reference_metric: Literal["auto", "log_loss", "regret"] = "auto"
    finetune_train_rows: int = Field(default=8192, gt=0, description="fast, fast-std, bias, scale: training rows")
    paper_steps: int = Field(default=500, gt=0, description="paper: head fine-tune steps")
    paper_max_passes: int | None = Field(
        default=None,
        ge=1,
        description="`paper`: passes over the training rows at most (1: the studies before commit ec9e3ea)",
    )
    valid_rows: int | None = Field(default=None, gt=0, description="validation rows scored (None: the whole split)")
    top_k: int = Field(default=5, gt=0, description="the top-k overlap's k")
    device: str = Field(default="cpu", description="cpu, cuda or auto: where the supernets and models train")

    def supernet_config(self, label: str) -> SupernetTrainingConfig:
        v = self.supernets[label]
        return SupernetTrainingConfig(
            data=self.data,
            space=v.space or self.space,
            sampler=v.sampler,
            center_logits=v.center_logits,
            distill=v.distill,
            train=v.train.model_copy(update={"seed": self.seed if v.seed is None else v.seed}),
        )

    def proxies(self, label: str, checkpoint: Path) -> dict[str, tuple[str, dict[str, Any]]]:
        """study label -> (evaluator name, config) of one supernet variant's proxies."""
        v = self.supernets[label]
        proxy = {
            "data": self.data,
            "supernet": str(checkpoint),
            "valid_rows": self.valid_rows,
            "seed": self.seed,
            "device": self.device,
        }
        options = {
            "none": ("supernet", proxy),
            "fast": ("finetune", {**proxy, "recipe": "fast", "train_rows": self.finetune_train_rows}),
            "fast-std": ("finetune", {**proxy, "recipe": "fast-std", "train_rows": self.finetune_train_rows}),
            "paper": (
                "finetune",
                {**proxy, "recipe": "paper", "steps": self.paper_steps, "max_passes": self.paper_max_passes},
            ),
            "bias": ("finetune", {**proxy, "recipe": "bias", "train_rows": self.finetune_train_rows}),
            "scale": ("finetune", {**proxy, "recipe": "scale", "train_rows": self.finetune_train_rows}),
        }
        return {f"{label}/{name}": options[name] for name in v.finetune}

    def reference(self, i: int) -> tuple[str, dict[str, Any]]:
        return "full", {
            "data": self.data,
            "seed": self.seed + i,
            "device": self.device,
            "train": self.full.model_dump(),
        }
