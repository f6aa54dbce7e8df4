"""`nasrec search`: the pipeline from the command line, every flag checked before the first stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table
from rich.text import Text

from nasrec.cli.common import (
    TensorBoard,
    console,
    data_path,
    default,
    flag_errors,
    note_cpu_on_cuda,
    resumable,
    space_path,
    user_errors,
)
from nasrec.errors import UsageError
from nasrec.evaluators import EVALUATORS, FinetuneConfig, SupernetTrainingConfig
from nasrec.evaluators.base import evaluator_config
from nasrec.evaluators.scalars import tensorboard
from nasrec.records import RunPaths
from nasrec.search.base import STRATEGIES, list_strategies, strategy_options
from nasrec.search.evolution import EvolutionOptions
from nasrec.search.pipeline import EvaluatorChoice, Pipeline, RunConfig, StrategyChoice
from nasrec.search.random import RandomOptions
from nasrec.search.run_folder import growable_as_folder_ran

Data = Annotated[
    str, typer.Option(help="`sample:criteo`, `sample:avazu` or a prepared data folder (see `nasrec data prepare`).")
]
Out = Annotated[Path, typer.Option("-o", "--out", help="Run folder (resumable: finished stages are skipped).")]
Device = Annotated[str, typer.Option(help="cpu, cuda or auto (CUDA when available).")]

SEARCH_FLAGS = {
    "strategy.name": "--strategy",
    "strategy.options": "--strategy",  # what a strategy's options need as a whole (e.g. its extra installed)
    "evaluator.name": "--evaluator",
    "evaluator.config.recipe": "--proxy",
    "evaluator.config": "--proxy",
    "supernet.train.epochs": "--supernet-epochs",
    "zoo": "--zoo",
}
"""RunConfig fields whose CLI flag is not the field's own name (see `flag_errors`)."""
STRATEGY_FLAGS = ("population", "cycles", "tournament", "children", "budget")


def parse_options(pairs: list[str]) -> tuple[dict[str, Any], list[str]]:
    """`--option KEY=VALUE` pairs as {key: value} (VALUE read as JSON when it is, else as text), and the
    problems found (one line each)."""
    options: dict[str, Any] = {}
    problems = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            problems.append(f"--option: expected KEY=VALUE, got {pair!r}")
            continue
        key = key.strip()
        if key in options:
            problems.append(f"--option {key}: given twice; give it once")
            continue
        try:
            options[key] = json.loads(text)
        except ValueError:
            options[key] = text
    return options, problems


def _opt(model: type, field: str, what: str) -> str:
    """Help text ending with the model's default, for an option whose unset value means "the model's"."""
    return f"{what.rstrip('.')} (default {default(model, field)})."


@user_errors
@resumable
def search(
    data: Data = default(RunConfig, "data"),
    space: Annotated[str, typer.Option(help="Search space preset or JSON file.")] = default(RunConfig, "space"),
    out: Out = Path("runs/search"),
    seed: Annotated[int, typer.Option(help="Seed of the whole run (supernet, search, trainings).")] = default(
        RunConfig, "seed"
    ),
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
        int | None,
        typer.Option(help=_opt(RandomOptions, "budget", "random, optuna: evaluations."), show_default=False),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-O",
            help="Any option of the strategy as KEY=VALUE (repeatable), e.g. -O screen=8 -O surrogate=ridge.",
            show_default=False,
        ),
    ] = None,
    objectives: Annotated[
        str,
        typer.Option(help="What the search minimises: logloss, or a Pareto front of logloss,flops / logloss,params."),
    ] = ",".join(default(RunConfig, "objectives")),
    max_flops: Annotated[
        int | None,
        typer.Option(
            help="Budget: most multiply-adds per example (candidates over it are never scored).", show_default=False
        ),
    ] = None,
    max_params: Annotated[
        int | None,
        typer.Option(help="Budget: most dense parameters (candidates over it are never scored).", show_default=False),
    ] = None,
    evaluator: Annotated[
        str, typer.Option(help=f"Evaluator scoring the candidates: {', '.join(EVALUATORS.names())}.")
    ] = default(EvaluatorChoice, "name"),
    proxy: Annotated[
        str | None,
        typer.Option(
            help=_opt(FinetuneConfig, "recipe", "finetune evaluator: recipe, fast-std, fast, paper, bias or scale."),
            show_default=False,
        ),
    ] = None,
    supernet_epochs: Annotated[float, typer.Option(help="Epochs of supernet training.")] = default(
        SupernetTrainingConfig, "train"
    ).epochs,
    top_k: Annotated[
        int,
        typer.Option(help="Candidates trained from scratch; the best on validation wins (1: the proxy's best wins)."),
    ] = default(RunConfig, "top_k"),
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
    final_protocol: Annotated[
        str,
        typer.Option(
            help="keep: the final models early-stopped on valid; retrain: retrained on train+valid for the epochs "
            "early stopping chose."
        ),
    ] = default(RunConfig, "final_protocol"),
    scratch_lr: Annotated[float, typer.Option(help="Adagrad learning rate of the top-k and final trainings.")] = (
        default(RunConfig, "scratch_lr")
    ),
    scratch_min_warmup_steps: Annotated[
        int, typer.Option(help="Warm-up floor (steps) of the top-k and final trainings.")
    ] = default(RunConfig, "scratch_min_warmup_steps"),
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
    zoo: Annotated[
        str,
        typer.Option(help="Zoo models trained beside NASRecNet in the final stage, comma-separated ('' for none)."),
    ] = ",".join(default(RunConfig, "zoo")),
    random_baseline: Annotated[bool, typer.Option(help="Also run random search with the same budget.")] = default(
        RunConfig, "random_baseline"
    ),
    device: Device = default(RunConfig, "device"),
    tensorboard_dir: TensorBoard = None,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Print the plan with each stage's time on this machine, from a few supernet and scratch steps and "
            "proxy evaluations timed now (about a minute), and stop: nothing is written in --out.",
        ),
    ] = False,
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
    options, problems = parse_options(option or [])
    flags = dict(SEARCH_FLAGS, **{f"strategy.options.{k}": f"--option {k}" for k in options})
    problems += [
        f"--{k}: given twice, as {v} and as --option {k}={json.dumps(options[k])}; give it once"
        for k, v in given.items()
        if v is not None and k in options
    ]
    options.update({k: v for k, v in given.items() if v is not None})
    if strategy in STRATEGIES.names():  # flags of another strategy are an error, not silently ignored
        options = growable_as_folder_ran(RunPaths(out).config, strategy, options)  # a budget left out: as it ran
        fields = strategy_options(strategy).model_fields
        problems += [
            f"{flags.get(f'strategy.options.{k}', f'--{k}')}: not an option of strategy {strategy} "
            f"(its options: {', '.join(fields)})"
            for k in options
            if k not in fields
        ]
        options = {k: v for k, v in options.items() if k in fields}
    if (
        proxy is not None
        and evaluator in EVALUATORS.names()
        and "recipe" not in evaluator_config(evaluator).model_fields
    ):
        problems.append(f"--proxy: applies only to an evaluator with a recipe (finetune), not {evaluator}")
        proxy = None
    try:
        config = RunConfig(
            data=data_path(data),
            space=space_path(space),
            seed=seed,
            supernet={"train": {"epochs": supernet_epochs}},
            strategy={"name": strategy, "options": options},
            objectives=tuple(o.strip() for o in objectives.split(",")),
            limits={"max_flops": max_flops, "max_params": max_params},
            top_k=top_k,
            evaluator={"name": evaluator, "config": {} if proxy is None else {"recipe": proxy}},
            workers=workers,
            full_epochs=full_epochs,
            final_epochs=final_epochs,
            topk_seeds=topk_seeds,
            final_seeds=final_seeds,
            final_protocol=final_protocol,
            zoo=tuple(name.strip() for name in zoo.split(",") if name.strip()),
            scratch_lr=scratch_lr,
            scratch_min_warmup_steps=scratch_min_warmup_steps,
            random_baseline=random_baseline,
            executor=executor,
            ray_address=ray_address,
            device=device,
        )
    except ValidationError as exc:
        problems += flag_errors(exc, flags)
    if ray_address != default(RunConfig, "ray_address") and executor != "ray":
        problems.append(f"--ray-address: applies only with --executor ray, not {executor}")
    if problems:
        raise UsageError("\n".join(problems))
    pipeline = Pipeline(config, out, console=console)
    pipeline.check()  # what the config names exists here: an error, if any, comes alone
    note_cpu_on_cuda(device)
    if estimate:
        print_estimate(pipeline)
        return
    with tensorboard(tensorboard_dir):
        summary = pipeline.run()
    draw_run(out)
    print_results(summary, out)


def print_estimate(pipeline: Pipeline) -> None:
    """`--estimate`: the plan, then each stage's time on this machine, from rates measured now."""
    import torch

    from nasrec.evaluators.distributed import resolve_device
    from nasrec.search.estimate import duration, measure

    pipeline.print_plan()
    device = resolve_device(pipeline.config.device)
    threads = torch.get_num_threads()
    where = f"cpu, {threads} thread{'s' * (threads > 1)}" if device.type == "cpu" else str(device)
    what = "the plan's work at rates measured now; start-up and validations not counted"
    console.print(Text.assemble(("estimate", "bold"), f" on this machine ({where}): {what}"))
    rates = measure(pipeline.config)
    stages = pipeline.estimate(rates)
    for e in stages:
        took = "?" if e.seconds is None else duration(e.seconds)
        console.print(f"  {e.stage}: {took}: {e.how}", highlight=False)
    known = [e.seconds for e in stages if e.seconds is not None]
    rest = "" if len(known) == len(stages) else ", and the search's evaluations"
    measured = f"measuring took {rates.measured_seconds:.0f} s"
    console.print(f"  in all: {duration(sum(known))}{rest} ({measured})", highlight=False)


def draw_run(out: Path) -> None:
    """After a run: the best genotype's diagram (skipped, with a note, without graphviz) and the report."""
    from nasrec.genotype import load
    from nasrec.viz.render import render
    from nasrec.viz.report import write_report

    paths = RunPaths(out)
    try:
        render(load(paths.best_genotype), paths.best_diagram, format="svg")
    except (RuntimeError, ValueError) as exc:  # graphviz missing: the run is complete without its drawing
        console.print(Text.assemble(("diagram skipped:", "yellow"), f" {exc}"), highlight=False)
    write_report(out)


def print_results(summary, out: Path) -> None:
    from nasrec.evaluators.kept_weights import holds_weights_of

    seeds = len(summary.seeds) or 1
    # one line a model, whatever the width (~116 columns with the widest names; a log file is 80 wide to rich):
    # no cell folds, so a narrow terminal wraps whole lines, not a model's name into pieces
    rows = Table(
        title=f"test split ({seeds} seed{'s' if seeds > 1 else ''} per model; Δ: NASRecNet minus the model)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    cells = []
    for r in sorted(summary.results, key=lambda r: r.test.log_loss):
        c = summary.comparisons.get(r.name)
        spread = f" ± {r.test.log_loss_std:.4f}" if r.test.log_loss_std else ""
        cells.append(
            [
                r.name,
                f"{r.test.log_loss:.4f}{spread}",
                f"{r.test.auc:.4f}",
                str(c.log_loss) if c else "",
                str(c.auc) if c else "",
                f"{r.test.flops:,}",
                f"{r.test.params:,}",
            ]
        )
    head = ("model", "log loss", "AUC", "Δ log loss [95% CI]", "Δ AUC [95% CI]", "FLOPs", "dense params")
    for i, name in enumerate(head):
        widest = max([len(row[i]) for row in cells] + [len(word) for word in name.split()])
        rows.add_column(name, min_width=widest, justify="left" if i == 0 else "right")
    for row in cells:
        rows.add_row(*row)
    console.print(rows)
    if summary.diverged:  # the final models left out
        names = ", ".join(d.name for d in summary.diverged)
        console.print(f"left out (every training try diverged): {names}; why: {out / 'summary.json'}", highlight=False)
    weights = RunPaths(out).best_weights  # absent in a folder begun before nasrec kept it
    nas = next((r for r in summary.results if r.kind == "nasrec"), None)
    console.print(
        f"best genotype: {out / summary.best_genotype}"
        + (f"\nits trained weights: {weights}" if nas and holds_weights_of(weights, nas.genotype) else "")
        + f"\nsummary: {out / 'summary.json'}\nreport: {out / 'report.html'}",
        highlight=False,
    )
