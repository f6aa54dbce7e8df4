"""The training recipe (`TrainConfig`), and which of its fields a resumed training may change."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nasrec.evaluators.schedule import WARMUP_FLOOR

CHECKPOINT_SECONDS = 300.0
"""`TrainConfig.checkpoint_seconds`' default. A full checkpoint of the default supernet (weights and Adagrad state,
~795 MB) took 1.35-1.46 s to write (CPU machine): every 200 steps at the ~43 steps/s estimated for a GPU (4.7 s) that
would be ~30 % more time (not measured on a GPU); every 300 s it is under 0.5 %, and a killed run loses at most
~5 minutes of training (plus `checkpoint_every` steps)."""


class TrainConfig(BaseModel):
    """The recipe; defaults are the paper's supernet recipe, made safe for short runs (`min_warmup_steps`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="epochs (the maximum, with early stopping)"
    )
    batch_size: int = Field(default=512, gt=0)
    lr: float = Field(default=0.12, gt=0)
    eps: float = Field(default=1e-2, gt=0)
    warmup: float = Field(default=0.1, ge=0, lt=1, description="fraction of steps with linear warm-up")
    min_warmup_steps: int = Field(default=WARMUP_FLOOR, ge=0, description="floor on the warm-up, in steps")
    clip: float | None = Field(default=5.0, gt=0)
    seed: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=200, gt=0, description="steps between checkpoints (at the least)")
    checkpoint_seconds: float = Field(
        default=CHECKPOINT_SECONDS,
        ge=0,
        description="seconds between checkpoints (at the least; 0: every `checkpoint_every` steps); the end of a run "
        "is always saved",
    )
    guard_factor: float = Field(default=3.0, gt=1, description="a loss above this x the running median diverged")
    guard_patience: int = Field(default=20, gt=0, description="diverged steps in a row that stop the run")
    patience: int | None = Field(default=None, gt=0, description="early stopping: validations without a new best")
    eval_every: int | None = Field(default=None, gt=0, description="steps between validations (None: every epoch)")

    head_init: bool = Field(default=True, description="start the head at the base rate: bias logit(p), weights 0")

    def hint(self) -> str:
        return f"lower lr (now {self.lr:g}) or raise min_warmup_steps (now {self.min_warmup_steps})"


RESUME_MAY_CHANGE = ("guard_factor", "guard_patience", "checkpoint_seconds")
"""Recipe fields a resume may change: the guard's thresholds say when a run stops, and how often it is saved says
nothing of what it computes (a checkpoint written before `checkpoint_seconds` existed resumes too)."""


def compared_recipe(config_json: str | None) -> dict[str, Any] | None:
    """A saved recipe as compared on resume (`RESUME_MAY_CHANGE` left out)."""
    if config_json is None:
        return None
    return {k: v for k, v in json.loads(config_json).items() if k not in RESUME_MAY_CHANGE}
