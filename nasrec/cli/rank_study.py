"""`nasrec rank-study`: how well each proxy ranks sampled genotypes against training from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasrec.cli.common import (
    TensorBoard,
    check_inputs,
    console,
    data_path,
    default,
    flag_values,
    folder_space,
    note_cpu_on_cuda,
    resumable,
    space_path,
    table,
    user_errors,
)
from nasrec.cli.search import Data, Device, Out
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.rank_study_config import RankStudyConfig
from nasrec.evaluators.scalars import tensorboard
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE

RANK_STUDY_FLAGS = {
    "supernets.main.train.epochs": "--supernet-epochs",
    "supernets.main.train": "--supernet-epochs",
    "supernets.main.finetune": "--finetune",
    "full.epochs": "--full-epochs",
    "full": "--full-epochs",
    "reference_seeds": "--seeds",
    "finetune_train_rows": "--finetune-rows",
}
"""RankStudyConfig fields whose `nasrec rank-study` flag is not the field's own name (see `flag_errors`)."""


@user_errors
@resumable
def rank_study_cmd(
    data: Data = default(RankStudyConfig, "data"),
    space: Annotated[str, typer.Option(help="Search space: preset or JSON file.")] = default(RankStudyConfig, "space"),
    n: Annotated[int, typer.Option(help="Genotypes sampled.")] = default(RankStudyConfig, "n"),
    out: Out = Path("runs/rank-study"),
    seed: Annotated[
        int, typer.Option(help="Seed of the sampled genotypes, the supernet and the first reference run.")
    ] = default(RankStudyConfig, "seed"),
    supernet_epochs: Annotated[float, typer.Option(help="Epochs of supernet training.")] = SUPERNET_RECIPE.epochs,
    full_epochs: Annotated[float, typer.Option(help="Most epochs of each scratch training (early-stopped).")] = (
        SCRATCH_RECIPE.epochs
    ),
    seeds: Annotated[int, typer.Option(help="Scratch trainings averaged per genotype (the reference).")] = default(
        RankStudyConfig, "reference_seeds"
    ),
    paper_steps: Annotated[int, typer.Option(help="paper proxy: Adagrad steps fine-tuning the head.")] = default(
        RankStudyConfig, "paper_steps"
    ),
    finetune_rows: Annotated[
        int, typer.Option(help="fast, fast-std, bias, scale proxies: training rows the head is re-fitted on.")
    ] = default(RankStudyConfig, "finetune_train_rows"),
    finetune: Annotated[
        str,
        typer.Option(
            help="Proxies scored on the supernet, comma-separated: none (inherited weights), fast, fast-std "
            "(the search's default), paper, bias, scale; params and flops are always scored."
        ),
    ] = "none,fast-std,paper",
    device: Device = default(RankStudyConfig, "device"),
    tensorboard_dir: TensorBoard = None,
) -> None:
    """How well each proxy ranks sampled genotypes against early-stopped training from scratch averaged over
    seeds (on oracle data: regret); also the reference's own seed-to-seed agreement (resumable)."""
    from nasrec.evaluators.rank_study import rank_study

    with flag_values(RANK_STUDY_FLAGS):  # one model validated, so every bad flag is one line of one error
        main = {
            "train": {**SUPERNET_RECIPE.model_dump(), "epochs": supernet_epochs},
            "finetune": tuple(name.strip() for name in finetune.split(",") if name.strip()),
        }
        config = RankStudyConfig(
            data=data_path(data),
            space=folder_space(out / "config.json", space_path(space)),
            n=n,
            seed=seed,
            supernets={"main": main},  # validated as a SupernetVariant
            reference_seeds=seeds,
            full={**SCRATCH_RECIPE.model_dump(), "epochs": full_epochs},  # validated as a TrainConfig
            paper_steps=paper_steps,
            finetune_train_rows=finetune_rows,
            device=device,
        )
    check_inputs(config.space, config.data)
    note_cpu_on_cuda(device)
    with tensorboard(tensorboard_dir):
        result = rank_study(config, out, progress=True)
    console.print(rank_table(result))
    console.print(f"results: {out / 'results.json'}", highlight=False)


def rank_table(result):  # RankStudyResult -> rich Table
    """The study's agreements as a table, the reference's seed-to-seed agreement first (with 3+ seeds, every
    pair's and each seed's against the mean of the others in the caption: `seed_taus`)."""
    taus = result.seed_taus
    pairs = ", ".join(f"{k} {v:.3f}" for k, v in taus.items() if not k.endswith("-rest"))
    rest = ", ".join(f"{k.removesuffix('-rest')} {v:.3f}" for k, v in taus.items() if k.endswith("-rest"))
    caption = f"seeds pairwise: {pairs}; each vs the others' mean: {rest}" if taus else None
    out = table(
        "proxy",
        "Kendall tau [95% CI]",
        "Spearman rho",
        "Pearson r",
        f"top-{result.config.top_k} overlap",
        "s/candidate",
        title=f"{result.reference_n} genotypes: proxy vs scratch training "
        f"({result.reference_metric}, {result.config.reference_seeds} seeds)",
        caption=caption,
    )
    rows = [("reference seed 0 vs 1", result.seed_agreement)] if result.seed_agreement else []
    rows += list(result.agreement.items())
    for label, a in rows:
        ci = f" [{a.kendall_low:.2f}, {a.kendall_high:.2f}]" if a.kendall_low is not None else ""
        out.add_row(
            label,
            f"{a.kendall_tau:.3f}{ci}",
            f"{a.spearman_rho:.3f}",
            f"{a.pearson_r:.3f}",
            f"{a.top_k_overlap:.2f}",
            f"{result.seconds_per_candidate[label]:.2f}" if label in result.seconds_per_candidate else "",
        )
    return out
