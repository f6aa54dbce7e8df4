"""`nasrec train-supernet` and `nasrec evaluate`: one supernet, or one genotype from scratch, trained and scored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasrec.cli.common import (
    TensorBoard,
    check_cap,
    check_inputs,
    check_writable,
    console,
    data_path,
    default,
    flag_values,
    load_checked,
    note,
    note_cpu_on_cuda,
    resumable,
    space_path,
    user_errors,
)
from nasrec.cli.search import Data, Device
from nasrec.errors import UsageError
from nasrec.evaluators import FullTrainConfig, SupernetTrainingConfig, TrainConfig
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.scalars import add_scalar, tensorboard
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE
from nasrec.genotype import Genotype
from nasrec.genotype.io import ref_layernorm
from nasrec.search.pipeline import RunConfig


@user_errors
@resumable
def train_supernet_cmd(
    data: Data = "sample:criteo",
    space: Annotated[str, typer.Option(help="Search space: preset or JSON file.")] = default(
        SupernetTrainingConfig, "space"
    ),
    out: Annotated[
        Path,
        typer.Option(
            "-o",
            "--out",
            help="Supernet folder: OUT/checkpoint.pt (resumable). `nasrec search --out RUN` reuses RUN/supernet "
            "only if trained with the settings that search would use: its --data, --space and --seed, --epochs as "
            "its --supernet-epochs, every other option at its default; else search refuses it before writing anything.",
        ),
    ] = Path("runs/supernet"),
    epochs: Annotated[float, typer.Option(help="Epochs over the training split (fractions allowed).")] = (
        SUPERNET_RECIPE.epochs
    ),
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, the data order and the sampled paths.")] = (
        SUPERNET_RECIPE.seed
    ),
    sampler: Annotated[str, typer.Option(help="Path sampler.")] = default(SupernetTrainingConfig, "sampler"),
    warmup_fraction: Annotated[
        float,
        typer.Option(
            help="Share of the steps in the supernet warm-up: the full supernet trained instead of a sampled path "
            "with a probability falling from 1 to 0 (not the learning-rate warm-up)."
        ),
    ] = default(SupernetTrainingConfig, "warmup_fraction"),
    warmup_mode: Annotated[
        str, typer.Option(help="Supernet warm-up: whole (one draw per step) or per-block.")
    ] = default(SupernetTrainingConfig, "warmup_mode"),
    layernorm: Annotated[bool, typer.Option(help="LayerNorm in every operator.")] = default(
        SupernetTrainingConfig, "layernorm"
    ),
    center_logits: Annotated[
        bool,
        typer.Option(
            help="Train on batch-centred logits (score with a re-fitted head: --proxy fast-std, fast, bias or scale)."
        ),
    ] = default(SupernetTrainingConfig, "center_logits"),
    lr: Annotated[float, typer.Option(help="Adagrad learning rate (peak of the cosine schedule).")] = (
        SUPERNET_RECIPE.lr
    ),
    min_warmup_steps: Annotated[
        int, typer.Option(help="Floor on the warm-up, in steps (the paper's 10 % of the steps when longer).")
    ] = SUPERNET_RECIPE.min_warmup_steps,
    batch_size: Annotated[int, typer.Option(help="Global batch (split over torchrun's processes).")] = (
        SUPERNET_RECIPE.batch_size
    ),
    cap: Annotated[
        int,
        typer.Option(help="Embedding rows per table (replaces a cap the data was prepared with; 0: the full tables)."),
    ] = default(SupernetTrainingConfig, "cap"),
    device: Device = "cpu",
    tensorboard_dir: TensorBoard = None,
) -> None:
    """Train a weight-sharing supernet (resumes from OUT/checkpoint.pt). Data-parallel when launched with
    `torchrun --nproc_per_node=K -m nasrec train-supernet ...`."""
    import os

    import torch

    from nasrec.evaluators import train_supernet

    check_cap(cap)
    with flag_values():
        config = SupernetTrainingConfig(
            data=data_path(data),
            space=space_path(space),
            sampler=sampler,
            warmup_fraction=warmup_fraction,
            warmup_mode=warmup_mode,
            layernorm=layernorm,
            center_logits=center_logits,
            cap=cap or None,
            train=TrainConfig(
                **{
                    **SUPERNET_RECIPE.model_dump(),
                    **dict(epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, min_warmup_steps=min_warmup_steps),
                }
            ),
        )
    check_inputs(config.space, config.data)
    note_cpu_on_cuda(device)
    with tensorboard(tensorboard_dir):
        train_supernet(config, out, progress=True, device=device)
    if torch.distributed.is_initialized():  # under torchrun: leave the process group cleanly
        torch.distributed.destroy_process_group()
    if os.environ.get("RANK", "0") == "0":
        from nasrec.evaluators.guard import DivergenceReport
        from nasrec.evaluators.supernet_training import training_report

        report = training_report(out)
        if report is not None:
            console.print(
                f"trained {report['steps']} steps: {DivergenceReport(**report['divergence'])}", highlight=False
            )
        console.print(f"supernet checkpoint: {out / 'checkpoint.pt'}", highlight=False)


def evaluate_layernorm(genotype: Genotype, layernorm: bool | None, inherit: Path | None) -> bool:
    """`nasrec evaluate`'s LayerNorm setting: the flag; else a NasRec-ref file's `use_layernorm`; else on. With
    `inherit` the supernet's weights decide (the flag was checked against it), and the config keeps the default."""
    ref = ref_layernorm(genotype)
    if inherit is not None or (layernorm is None and ref is None):
        return default(FullTrainConfig, "layernorm")
    return layernorm if layernorm is not None else bool(ref)


def check_inherited_layernorm(checkpoint: Path, layernorm: bool) -> None:
    """`--layernorm` / `--no-layernorm` with `--inherit`: only the supernet's own setting (its weights decide).
    A config.json that cannot be read is left to `load_supernet`, which names the problem."""
    try:
        theirs = SupernetTrainingConfig.model_validate_json((checkpoint.parent / "config.json").read_text()).layernorm
    except (OSError, ValueError):
        return
    if theirs != layernorm:
        flag, has = ("--layernorm", "without") if layernorm else ("--no-layernorm", "with")
        raise UsageError(
            f"{flag}: the supernet {checkpoint} was trained {has} LayerNorm; its weights decide: leave the flag out"
        )


@user_errors
def evaluate(
    genotype: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    data: Data = "sample:criteo",
    epochs: Annotated[float, typer.Option(help="Most epochs (early stopping may stop sooner).")] = (
        SCRATCH_RECIPE.epochs
    ),
    patience: Annotated[
        int | None,
        typer.Option(
            help="Epochs without a better validation loss before stopping (0: no early stopping, train all epochs)."
        ),
    ] = SCRATCH_RECIPE.patience,
    seeds: Annotated[int, typer.Option(help="Training runs averaged (per-seed scores are printed).")] = default(
        FullTrainConfig, "seeds"
    ),
    lr: Annotated[float, typer.Option(help="Adagrad learning rate (peak of the cosine schedule).")] = (
        SCRATCH_RECIPE.lr
    ),
    min_warmup_steps: Annotated[int, typer.Option(help="Warm-up floor in steps.")] = SCRATCH_RECIPE.min_warmup_steps,
    batch_size: Annotated[int, typer.Option(help="Rows per training step.")] = SCRATCH_RECIPE.batch_size,
    layernorm: Annotated[
        bool | None,
        typer.Option(
            help="LayerNorm in every operator (default: on, or a NasRec-ref file's use_layernorm; with --inherit, "
            "the supernet's)."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Score on valid or test.")] = "valid",
    final_protocol: Annotated[
        str,
        typer.Option(
            help="With --split test: keep (the model early-stopped on valid, as the search's final table) or "
            "retrain (on train+valid for the epochs early stopping chose)."
        ),
    ] = default(RunConfig, "final_protocol"),
    seed: Annotated[
        int, typer.Option(help="First seed (--seeds N: seed, seed+1, ..., each mixed with the genotype's digest).")
    ] = 0,
    device: Device = "cpu",
    space: Annotated[
        str | None, typer.Option(help="Check against this space (preset or JSON file; default: the file's).")
    ] = None,
    inherit: Annotated[
        Path | None,
        typer.Option(help="A trained supernet's checkpoint.pt: start from its weights (fine-tune the subnet)."),
    ] = None,
    save_weights: Annotated[
        Path | None,
        typer.Option(
            help="Write the trained model's weights to this new file (the seed that validated best), for "
            "`nasrec export --weights`."
        ),
    ] = None,
    tensorboard_dir: TensorBoard = None,
) -> None:
    """Train one genotype from scratch (or from a supernet's weights), early-stopped on validation; score it."""
    from nasrec.evaluators import FullTrain

    g = load_checked(genotype, space)
    if split not in ("valid", "test"):
        raise UsageError(f"--split: valid or test, got {split!r}")
    if final_protocol not in ("keep", "retrain"):
        raise UsageError(f"--final-protocol: keep or retrain, got {final_protocol!r}")
    if final_protocol == "retrain" and split != "test":  # it retrains on train+valid: nothing left to score on
        raise UsageError(f"--final-protocol retrain needs --split test (got --split {split})")
    if inherit is not None and layernorm is not None:
        check_inherited_layernorm(inherit, layernorm)
    if patience is not None and patience < 0:  # 0 is taken (no early stopping): the model's "> 0" would mislead
        raise UsageError(f"--patience: Input should be greater than or equal to 0, got {patience}")
    if save_weights is not None and save_weights.exists():
        raise UsageError(f"--save-weights {save_weights}: the file exists; remove it or name another")
    if save_weights is not None:
        check_writable(save_weights, "--save-weights")
    with flag_values():
        full = FullTrain(
            data=data_path(data),
            seed=seed,
            seeds=seeds,
            layernorm=evaluate_layernorm(g, layernorm, inherit),
            eval_split=split,
            device=device,
            train_split="train+valid" if split == "test" and final_protocol == "retrain" else "train",
            inherit=None if inherit is None else str(inherit),
            train=TrainConfig(
                epochs=epochs,
                lr=lr,
                min_warmup_steps=min_warmup_steps,
                batch_size=batch_size,
                seed=seed,
                patience=patience or None,
            ),
        )
    full.supernet  # noqa: B018  (a cached property: --inherit's supernet loaded, and checked, before the note)
    note_cpu_on_cuda(device)
    with tensorboard(tensorboard_dir):
        score = full.predict(g, save_weights=save_weights).score
        for name in ("log_loss", "auc", "regret"):
            if getattr(score, name, None) is not None:
                add_scalar(f"evaluate/{split}_{name}", getattr(score, name), 0)

    def stop(run) -> str:  # SeedRun -> where early stopping kept its weights
        steps = f"best at step {run.best_step} of {run.steps}" if run.best_step is not None else f"{run.steps} steps"
        return f"{steps}, {run.divergence}"

    for run in score.runs if seeds > 1 or split == "test" or score.runs[0].retries else []:
        why = f"  (calmer rerun {run.retries}: earlier tries {', '.join(run.retried_for)})" if run.retries else ""
        console.print(
            f"  seed {run.seed}: log loss {run.log_loss:.4f}  AUC {run.auc:.4f}  {stop(run)}{why}", highlight=False
        )
    spread = f" ± {score.log_loss_std:.4f}" if seeds > 1 else ""
    regret = f"  regret {score.regret:.5f}" if score.regret is not None else ""
    each = f"  ({stop(score.runs[0])})" if len(score.runs) == 1 else ""  # several seeds: each on its line above
    console.print(
        f"{genotype} ({g.digest()}) on {split}: log loss {score.log_loss:.4f}{spread}  AUC {score.auc:.4f}"
        f"{regret}{each}  FLOPs {score.flops:,}  dense params {score.params:,}  {score.seconds:.1f} s",
        highlight=False,
    )
    if split == "valid" and score.log_loss is not None and score.log_loss >= full.constant_valid_log_loss:
        note(
            f"no better than a constant guess of the training rows' click rate ({full.constant_valid_log_loss:.4f} "
            "on valid): more --epochs, or a calmer --lr, may help"
        )
    if save_weights is not None:
        console.print(f"weights: {save_weights}", highlight=False)
