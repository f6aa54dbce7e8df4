"""`RunConfig`: everything a search run does, typed and checked before any work; written to RUN/config.json.

It nests the supernet's training config (`SupernetTrainingConfig`, the same object as RUN/supernet/config.json),
the search strategy (a registered name and options checked by the strategy's `Options` model) and the
evaluator that scores candidates (a registered name and settings checked by the evaluator's `Config` model;
its data, supernet, seed and device come from the run). Configs written by nasrec 0.1 (flat `strategy`,
`strategy_options`, `proxy`, `supernet_epochs`, `warmup_fraction`) are read as the same run, so existing run
folders resume unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nasrec.errors import UsageError
from nasrec.evaluators import SupernetTrainingConfig
from nasrec.evaluators.base import evaluator_config
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE
from nasrec.genotype.zoo import list_zoo
from nasrec.search.base import check_multi_objective, strategy_options
from nasrec.search.limits import Limits
from nasrec.search.objectives import Objective, check_objectives

RUN_CONTEXT = ("data", "supernet", "seed", "device")
"""Evaluator settings the run itself supplies: they cannot be set in `RunConfig.evaluator.config`."""


class StrategyChoice(BaseModel):
    """A search strategy: its registered name and its options (the strategy's defaults filled in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "evolution"
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        strategy_options(name)  # an unknown name raises, listing the known ones
        return name

    @field_validator("options")
    @classmethod
    def _typed(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" not in info.data:  # the name was rejected: nothing to check the options against
            return options
        return strategy_options(info.data["name"]).model_validate(options).model_dump(mode="json")

    def typed(self) -> BaseModel:
        """The options as the strategy's `Options` model."""
        return strategy_options(self.name).model_validate(self.options)


class EvaluatorChoice(BaseModel):
    """The evaluator that scores candidates: its registered name and settings (its defaults filled in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "finetune"
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        evaluator_config(name)
        return name

    @field_validator("config")
    @classmethod
    def _typed(cls, config: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" not in info.data:
            return config
        supplied = sorted(set(config) & set(RUN_CONTEXT))
        if supplied:
            raise ValueError(f"{', '.join(supplied)}: set by the run, not in the evaluator's config")
        model = evaluator_config(info.data["name"])
        placeholders = {"data": "sample:criteo", "supernet": "checkpoint.pt", "seed": 0, "device": "cpu"}
        typed = model.model_validate({**{k: v for k, v in placeholders.items() if k in model.model_fields}, **config})
        return {k: v for k, v in typed.model_dump(mode="json").items() if k not in RUN_CONTEXT}

    def build_config(self, **context: Any) -> dict[str, Any]:
        """The evaluator's whole config: these settings and the run's `context` (those of RUN_CONTEXT its
        `Config` has)."""
        model = evaluator_config(self.name)
        full = {**{k: v for k, v in context.items() if k in model.model_fields}, **self.config}
        return model.model_validate(full).model_dump(mode="json")


class RunConfig(BaseModel):
    """Everything a run does; written to RUN/config.json. Defaults are the paper's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(default="sample:criteo", description="`sample:NAME` or a prepared data folder")
    space: str = Field(default="nasrec-full", description="search space preset or JSON file")
    seed: int = Field(default=0, ge=0)
    supernet: SupernetTrainingConfig = Field(description="supernet training (data, space and seed: the run's)")
    strategy: StrategyChoice = Field(default_factory=StrategyChoice)
    objectives: tuple[Objective, ...] = Field(
        default=("logloss",), description="minimised: logloss (the evaluator's score), then flops and/or params"
    )
    limits: Limits = Field(default_factory=Limits, description="budgets: candidates over them are never scored")
    evaluator: EvaluatorChoice = Field(default_factory=EvaluatorChoice)
    workers: int = Field(default=1, ge=1, description="concurrent evaluations (processes or Ray tasks)")
    executor: Literal["auto", "process", "ray"] = Field(
        default="auto", description="auto: in-process when workers == 1, else a process pool; ray: Ray tasks"
    )
    ray_address: str = Field(default="local", description="ray: `local`, `auto`, `HOST:PORT` or `ray://HOST:PORT`")
    device: str = Field(default="cpu", description="cpu, cuda or auto: where the supernet, proxies and models run")
    top_k: int = Field(default=15, ge=1, description="best candidates trained from scratch")
    full_epochs: float = Field(
        default=10.0, gt=0, allow_inf_nan=False, description="most epochs of each top-k training (early-stopped)"
    )
    final_epochs: float = Field(
        default=10.0, gt=0, allow_inf_nan=False, description="most epochs when choosing the final models' epochs"
    )
    final_protocol: Literal["keep", "retrain"] = Field(
        default="keep",
        description="final models: keep the model early-stopped on valid (trained on train), or retrain on train + "
        "valid for the epochs early stopping chose (docs/training.md#final-models has the measurements)",
    )
    patience: int = Field(default=2, gt=0, description="early stopping: validations without a new best")
    scratch_lr: float = Field(
        default=SCRATCH_RECIPE.lr, gt=0, description="Adagrad learning rate of every top-k and final training"
    )
    scratch_min_warmup_steps: int = Field(
        default=SCRATCH_RECIPE.min_warmup_steps, ge=0, description="warm-up floor (steps) of those trainings"
    )
    topk_seeds: int = Field(default=1, ge=1, description="seeds averaged per top-k candidate")
    final_seeds: int = Field(default=3, ge=1, description="seeds of every final model (NASRecNet, zoo, random)")
    final_fresh_seeds: bool = Field(
        default=True,
        description="the final trainings use seeds the top-k trainings did not, so a winner is not scored on test "
        "by the very run whose validation score selected it (False: seed 0 repeated that run, as nasrec did before "
        "commit 00e0f5a)",
    )
    zoo: tuple[str, ...] = ("dlrm", "deepfm", "wide_deep", "autoint")
    random_baseline: bool = True
    layernorm_final: bool = True

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        """Read 0.1 configs; give the supernet the run's data, space and (unless set) seed."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("strategy"), str) or "strategy_options" in data:  # nasrec 0.1
            data["strategy"] = {"name": data.get("strategy", "evolution"), "options": data.pop("strategy_options", {})}
        if "proxy" in data:
            data["evaluator"] = {"name": "finetune", "config": data.pop("proxy")}
        if "supernet_epochs" in data or "warmup_fraction" in data:
            data["supernet"] = {
                "warmup_fraction": data.pop("warmup_fraction", 0.2),
                "train": {"epochs": data.pop("supernet_epochs", 1.0)},
            }
        supernet = data.get("supernet", {})
        if isinstance(supernet, dict):
            supernet = {
                "data": data.get("data", cls.model_fields["data"].default),
                "space": data.get("space", cls.model_fields["space"].default),
                **supernet,
            }
            train = supernet.get("train", {})
            if isinstance(train, dict):
                supernet["train"] = {**SUPERNET_RECIPE.model_dump(), "seed": data.get("seed", 0), **train}
            data["supernet"] = supernet
        return data

    @field_validator("supernet")
    @classmethod
    def _same_data_and_space(cls, supernet: SupernetTrainingConfig, info: ValidationInfo) -> SupernetTrainingConfig:
        for key in ("data", "space"):
            if key in info.data and getattr(supernet, key) != info.data[key]:
                raise ValueError(
                    f"the supernet's {key} ({getattr(supernet, key)!r}) must be the run's ({info.data[key]!r})"
                )
        return supernet

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, objectives: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        try:
            check_objectives(objectives)
            if "strategy" in info.data:
                check_multi_objective(info.data["strategy"].name, objectives)
        except UsageError as exc:  # the flag's value is added to the message by the CLI
            raise ValueError(str(exc).split("; got ")[0]) from None
        return objectives

    @field_validator("zoo")
    @classmethod
    def _known_zoo(cls, zoo: tuple[str, ...]) -> tuple[str, ...]:
        known = list_zoo()
        unknown = [name for name in zoo if name not in known]
        if unknown:
            raise ValueError(f"unknown zoo model {unknown[0]!r} (known: {', '.join(known)})")
        twice = [name for i, name in enumerate(zoo) if name in zoo[:i]]
        if twice:
            raise ValueError(f"zoo model {twice[0]!r} named twice")
        return zoo
