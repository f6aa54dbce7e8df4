"""`nasrec`: data preparation, supernet training, search pipeline, evaluation, studies, reports, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from nasrec.cli import data, export
from nasrec.cli.common import (
    TensorBoard,
    console,
    default,
    flag_errors,
    flag_values,
    load_checked,
    table,
    user_errors,
)
from nasrec.errors import UsageError
from nasrec.evaluators import EVALUATORS, FinetuneConfig, FullTrainConfig, SupernetTrainingConfig, TrainConfig
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.rank_study import RankStudyConfig
from nasrec.evaluators.scalars import add_scalar, tensorboard
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE
from nasrec.search.base import STRATEGIES, list_strategies, strategy_options
from nasrec.search.evolution import EvolutionOptions
from nasrec.search.pipeline import EvaluatorChoice, Pipeline, RunConfig, StrategyChoice
from nasrec.search.random import RandomOptions

app = typer.Typer(
    help="Neural architecture search for CTR models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data", help="Prepare datasets and inspect prepared ones.")
app.command("export")(export.export_cmd)

Data = Annotated[
    str, typer.Option(help="`sample:criteo`, `sample:avazu` or a prepared data folder (see `nasrec data prepare`).")
]
Out = Annotated[Path, typer.Option("-o", "--out", help="Run folder (resumable: finished stages are skipped).")]
Device = Annotated[str, typer.Option(help="cpu, cuda or auto (CUDA when available).")]


@app.callback()
def _root() -> None:
    """Neural architecture search for CTR models: data, supernet, search, evaluation."""


SEARCH_FLAGS = {
    "strategy.name": "--strategy",
    "strategy.options": "--tournament",
    "evaluator.name": "--evaluator",
    "evaluator.config.recipe": "--proxy",
    "evaluator.config": "--proxy",
    "supernet.train.epochs": "--supernet-epochs",
}
"""RunConfig fields whose CLI flag is not the field's own name (see `flag_errors`)."""
STRATEGY_FLAGS = ("population", "cycles", "tournament", "children", "budget")


def _opt(model: type, field: str, what: str) -> str:
    """Help text ending with the model's default, for an option whose unset value means "the model's"."""
    return f"{what.rstrip('.')} (default {default(model, field)})."


@app.command()
@user_errors
def search(
    data: Data = default(RunConfig, "data"),
    space: Annotated[str, typer.Option(help="Search space preset or JSON file.")] = default(RunConfig, "space"),
    out: Out = Path("runs/search"),
    seed: int = default(RunConfig, "seed"),
    strategy: Annotated[str, typer.Option(help=f"Search strategy: {', '.join(list_strategies())}.")] = default(
        StrategyChoice, "name"
    ),
    population: Annotated[
        int | None,
        typer.Option(help=_opt(EvolutionOptions, "population", "evolution: population."), show_default=False),
    ] = None,
    cycles: Annotated[
        int | None, typer.Option(help=_opt(EvolutionOptions, "cycles", "evolution: cycles."), show_default=False)
    ] = None,
    tournament: Annotated[
        int | None,
        typer.Option(help=_opt(EvolutionOptions, "tournament", "evolution: tournament size."), show_default=False),
    ] = None,
    children: Annotated[
        int | None,
        typer.Option(help=_opt(EvolutionOptions, "children", "evolution: children per cycle."), show_default=False),
    ] = None,
    budget: Annotated[
        int | None, typer.Option(help=_opt(RandomOptions, "budget", "random: evaluations."), show_default=False)
    ] = None,
    evaluator: Annotated[
        str, typer.Option(help=f"Evaluator scoring the candidates: {', '.join(EVALUATORS.names())}.")
    ] = default(EvaluatorChoice, "name"),
    proxy: Annotated[
        str | None,
        typer.Option(
            help=_opt(FinetuneConfig, "recipe", "finetune evaluator: recipe, fast or paper."), show_default=False
        ),
    ] = None,
    supernet_epochs: float = default(SupernetTrainingConfig, "train").epochs,
    top_k: Annotated[int, typer.Option(help="Candidates trained from scratch.")] = default(RunConfig, "top_k"),
    full_epochs: Annotated[float, typer.Option(help="Most epochs of each top-k training (early-stopped).")] = default(
        RunConfig, "full_epochs"
    ),
    final_epochs: Annotated[
        float, typer.Option(help="Most epochs when early stopping chooses the final models' epochs.")
    ] = default(RunConfig, "final_epochs"),
    topk_seeds: Annotated[int, typer.Option(help="Seeds averaged per top-k candidate.")] = default(
        RunConfig, "topk_seeds"
    ),
    final_seeds: Annotated[int, typer.Option(help="Seeds of every final model.")] = default(RunConfig, "final_seeds"),
    workers: Annotated[int, typer.Option(help="Concurrent evaluations (processes or Ray tasks).")] = default(
        RunConfig, "workers"
    ),
    executor: Annotated[
        str, typer.Option(help="auto (in-process when --workers 1, else processes), process or ray.")
    ] = default(RunConfig, "executor"),
    ray_address: Annotated[
        str,
        typer.Option(
            help="With --executor ray: local (start Ray here), auto (the cluster joined with `ray start`) or HOST:PORT."
        ),
    ] = default(RunConfig, "ray_address"),
    random_baseline: Annotated[bool, typer.Option(help="Also run random search with the same budget.")] = default(
        RunConfig, "random_baseline"
    ),
    device: Device = default(RunConfig, "device"),
    tensorboard_dir: TensorBoard = None,
) -> None:
    """The NASRec pipeline: supernet, evolution, top-k from scratch, NASRecNet on test beside the zoo.
    Every flag is checked before the first stage starts; nothing is written when one is wrong."""
    given = {
        "population": population,
        "cycles": cycles,
        "tournament": tournament,
        "children": children,
        "budget": budget,
    }
    options = {k: v for k, v in given.items() if v is not None}
    problems = []
    if strategy in STRATEGIES.names():  # flags of another strategy are an error, not silently ignored
        fields = strategy_options(strategy).model_fields
        problems += [
            f"--{k}: not an option of strategy {strategy} (its options: {', '.join(fields)})"
            for k in options
            if k not in fields
        ]
        options = {k: v for k, v in options.items() if k in fields}
    try:
        config = RunConfig(
            data=data,
            space=space,
            seed=seed,
            supernet={"train": {"epochs": supernet_epochs}},
            strategy={"name": strategy, "options": options},
            top_k=top_k,
            evaluator={"name": evaluator, "config": {} if proxy is None else {"recipe": proxy}},
            workers=workers,
            full_epochs=full_epochs,
            final_epochs=final_epochs,
            topk_seeds=topk_seeds,
            final_seeds=final_seeds,
            random_baseline=random_baseline,
            executor=executor,
            ray_address=ray_address,
            device=device,
        )
    except ValidationError as exc:
        problems += flag_errors(exc, SEARCH_FLAGS)
    if problems:
        raise UsageError("\n".join(problems))
    with tensorboard(tensorboard_dir):
        summary = Pipeline(config, out, console=console).run()
    draw_run(out)
    _print_results(summary, out)


def draw_run(out: Path) -> None:
    """After a run: the best genotype's diagram (skipped, with a note, without graphviz) and the report."""
    from nasrec.genotype import load
    from nasrec.records import RunPaths
    from nasrec.viz.render import render
    from nasrec.viz.report import write_report

    paths = RunPaths(out)
    try:
        render(load(paths.best_genotype), paths.best_diagram, format="svg")
    except (RuntimeError, ValueError) as exc:  # graphviz missing: the run is complete without its drawing
        console.print(f"[yellow]diagram skipped:[/] {exc}", highlight=False)
    write_report(out)


def _print_results(summary, out: Path) -> None:
    seeds = len(summary.seeds) or 1
    rows = table(
        "model",
        "log loss",
        "AUC",
        "NASRecNet minus model: log loss [95% CI]",
        "AUC [95% CI]",
        "FLOPs",
        "dense params",
        title=f"test split ({seeds} seed{'s' if seeds > 1 else ''} per model)",
    )
    for r in sorted(summary.results, key=lambda r: r.test.log_loss):
        c = summary.comparisons.get(r.name)
        spread = f" ± {r.test.log_loss_std:.4f}" if r.test.log_loss_std else ""
        rows.add_row(
            r.name,
            f"{r.test.log_loss:.4f}{spread}",
            f"{r.test.auc:.4f}",
            str(c.log_loss) if c else "",
            str(c.auc) if c else "",
            f"{r.test.flops:,}",
            f"{r.test.params:,}",
        )
    console.print(rows)
    console.print(
        f"best genotype: {out / summary.best_genotype}\nsummary: {out / 'summary.json'}\nreport: {out / 'report.html'}",
        highlight=False,
    )


@app.command("train-supernet")
@user_errors
def train_supernet_cmd(
    data: Data = "sample:criteo",
    space: str = default(SupernetTrainingConfig, "space"),
    out: Out = Path("runs/supernet"),
    epochs: float = SUPERNET_RECIPE.epochs,
    seed: int = SUPERNET_RECIPE.seed,
    sampler: Annotated[str, typer.Option(help="Path sampler.")] = default(SupernetTrainingConfig, "sampler"),
    warmup_fraction: float = default(SupernetTrainingConfig, "warmup_fraction"),
    warmup_mode: Annotated[str, typer.Option(help="whole or per-block.")] = default(
        SupernetTrainingConfig, "warmup_mode"
    ),
    layernorm: bool = default(SupernetTrainingConfig, "layernorm"),
    lr: float = SUPERNET_RECIPE.lr,
    min_warmup_steps: Annotated[
        int, typer.Option(help="Floor on the warm-up, in steps (the paper's 10 % of the steps when longer).")
    ] = SUPERNET_RECIPE.min_warmup_steps,
    batch_size: Annotated[int, typer.Option(help="Global batch (split over torchrun's processes).")] = (
        SUPERNET_RECIPE.batch_size
    ),
    cap: Annotated[int, typer.Option(help="Embedding rows per table.")] = default(SupernetTrainingConfig, "cap"),
    device: Device = "cpu",
    tensorboard_dir: TensorBoard = None,
) -> None:
    """Train a weight-sharing supernet (resumes from OUT/checkpoint.pt). Data-parallel when launched with
    `torchrun --nproc_per_node=K -m nasrec train-supernet ...`."""
    import os

    import torch

    from nasrec.evaluators import train_supernet

    with flag_values():
        config = SupernetTrainingConfig(
            data=data,
            space=space,
            sampler=sampler,
            warmup_fraction=warmup_fraction,
            warmup_mode=warmup_mode,
            layernorm=layernorm,
            cap=cap,
            train=TrainConfig(
                **{
                    **SUPERNET_RECIPE.model_dump(),
                    **dict(epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, min_warmup_steps=min_warmup_steps),
                }
            ),
        )
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


@app.command()
@user_errors
def evaluate(
    genotype: Annotated[str, typer.Argument(help="Genotype file, NasRec-ref file or zoo:<name>.")],
    data: Data = "sample:criteo",
    epochs: Annotated[float, typer.Option(help="Most epochs (early stopping may stop sooner).")] = (
        SCRATCH_RECIPE.epochs
    ),
    patience: Annotated[
        int,
        typer.Option(
            help="Epochs without a better validation loss before stopping (0: no early stopping, train all epochs)."
        ),
    ] = SCRATCH_RECIPE.patience,
    seeds: Annotated[int, typer.Option(help="Training runs averaged (per-seed scores are printed).")] = default(
        FullTrainConfig, "seeds"
    ),
    lr: float = SCRATCH_RECIPE.lr,
    batch_size: int = SCRATCH_RECIPE.batch_size,
    layernorm: bool = default(FullTrainConfig, "layernorm"),
    split: Annotated[
        str,
        typer.Option(
            help="Score on valid or test (test trains on train+valid for the epochs early stopping chose on valid)."
        ),
    ] = "valid",
    seed: int = 0,
    device: Device = "cpu",
    space: Annotated[
        str | None, typer.Option(help="Check against this space (preset or JSON file; default: the file's).")
    ] = None,
    tensorboard_dir: TensorBoard = None,
) -> None:
    """Train one genotype from scratch, early-stopped on validation, and score it."""
    from nasrec.evaluators import FullTrain

    g = load_checked(genotype, space)
    with flag_values():
        full = FullTrain(
            data=data,
            seed=seed,
            seeds=seeds,
            layernorm=layernorm,
            eval_split=split,
            device=device,
            train_split="train+valid" if split == "test" else "train",
            train=TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, patience=patience or None),
        )
    with tensorboard(tensorboard_dir):
        (score,) = full.evaluate([g])
        for name in ("log_loss", "auc", "regret"):
            if getattr(score, name, None) is not None:
                add_scalar(f"evaluate/{split}_{name}", getattr(score, name), 0)
    for run in score.runs if seeds > 1 or split == "test" else []:
        console.print(
            f"  seed {run.seed}: log loss {run.log_loss:.4f}  AUC {run.auc:.4f}  {run.steps} steps", highlight=False
        )
    run = score.runs[0]
    stop = f"best at step {run.best_step} of {run.steps}" if run.best_step is not None else f"{run.steps} steps"
    spread = f" ± {score.log_loss_std:.4f}" if seeds > 1 else ""
    regret = f"  regret {score.regret:.5f}" if score.regret is not None else ""
    console.print(
        f"{genotype} ({g.digest()}) on {split}: log loss {score.log_loss:.4f}{spread}  AUC {score.auc:.4f}"
        f"{regret}  ({stop})  FLOPs {score.flops:,}  dense params {score.params:,}  {score.seconds:.1f}s",
        highlight=False,
    )


@app.command("rank-study")
@user_errors
def rank_study_cmd(
    data: Data = default(RankStudyConfig, "data"),
    space: str = default(RankStudyConfig, "space"),
    n: Annotated[int, typer.Option(help="Genotypes sampled.")] = default(RankStudyConfig, "n"),
    out: Out = Path("runs/rank-study"),
    seed: int = default(RankStudyConfig, "seed"),
    supernet_epochs: float = SUPERNET_RECIPE.epochs,
    full_epochs: Annotated[float, typer.Option(help="Most epochs of each scratch training (early-stopped).")] = (
        SCRATCH_RECIPE.epochs
    ),
    seeds: Annotated[int, typer.Option(help="Scratch trainings averaged per genotype (the reference).")] = default(
        RankStudyConfig, "reference_seeds"
    ),
    paper_steps: int = default(RankStudyConfig, "paper_steps"),
    finetune_rows: int = default(RankStudyConfig, "finetune_train_rows"),
    device: Device = default(RankStudyConfig, "device"),
    tensorboard_dir: TensorBoard = None,
) -> None:
    """How well each proxy ranks sampled genotypes against early-stopped training from scratch averaged over
    seeds (on oracle data: regret); also the reference's own seed-to-seed agreement (resumable)."""
    from nasrec.evaluators.rank_study import SupernetVariant, rank_study

    with flag_values():
        main = SupernetVariant(train=TrainConfig(**{**SUPERNET_RECIPE.model_dump(), "epochs": supernet_epochs}))
        config = RankStudyConfig(
            data=data,
            space=space,
            n=n,
            seed=seed,
            supernets={"main": main},
            reference_seeds=seeds,
            full=TrainConfig(**{**SCRATCH_RECIPE.model_dump(), "epochs": full_epochs}),
            paper_steps=paper_steps,
            finetune_train_rows=finetune_rows,
            device=device,
        )
    with tensorboard(tensorboard_dir):
        result = rank_study(config, out, progress=True)
    console.print(rank_table(result))
    console.print(f"results: {out / 'results.json'}", highlight=False)


def rank_table(result):  # RankStudyResult -> rich Table
    """The study's agreements as a table, the reference's seed-to-seed agreement first."""
    out = table(
        "proxy",
        "Kendall tau [95% CI]",
        "Spearman rho",
        "Pearson r",
        f"top-{result.config.top_k} overlap",
        "s/candidate",
        title=f"{result.reference_n} genotypes: proxy vs scratch training "
        f"({result.reference_metric}, {result.config.reference_seeds} seeds)",
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
            f"{result.seconds_per_candidate.get(label, float('nan')):.2f}",
        )
    return out


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run folder of `nasrec search`.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="HTML file (default RUN/report.html).")] = None,
) -> None:
    """Write the run's self-contained HTML report."""
    from nasrec.viz.report import write_report

    console.print(f"wrote {write_report(run, out)}", highlight=False)


def demo_config(seed: int = 0) -> RunConfig:
    """The demo's run: the paper's pipeline with a budget for a 2-core laptop."""
    return RunConfig(
        data="sample:criteo",
        space="nasrec-full",
        seed=seed,
        supernet={"train": {"epochs": 2.0}},
        strategy={"name": "evolution", "options": {"population": 16, "cycles": 5, "tournament": 8, "children": 4}},
        top_k=3,
        evaluator={"name": "finetune", "config": {"recipe": "fast", "train_rows": 4096}},
        full_epochs=6.0,
        final_epochs=6.0,
        final_seeds=1,
    )


@app.command()
@user_errors
def demo(
    out: Out = Path("runs/demo"),
    seed: int = 0,
) -> None:
    """The whole pipeline on the bundled real Criteo rows, with a budget for a 2-core laptop (~5 minutes)."""
    summary = Pipeline(demo_config(seed), out, console=console).run()
    draw_run(out)
    _print_results(summary, out)
    console.print(json.dumps(summary.stage_seconds), highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
