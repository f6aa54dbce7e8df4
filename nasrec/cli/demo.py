"""`nasrec demo`: the whole pipeline on the bundled Criteo rows (this module imports no torch: `demo --help`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nasrec.cli.common import check_seed, console, resumable, user_errors

if TYPE_CHECKING:
    from nasrec.search.pipeline import RunConfig

DEMO_SEED = 0


def demo_config(seed: int = DEMO_SEED) -> RunConfig:
    """The demo's run: the paper's pipeline with a budget for a 2-core laptop."""
    from nasrec.search.pipeline import RunConfig

    return RunConfig(
        data="sample:criteo",
        space="nasrec-full",
        seed=seed,
        supernet={"train": {"epochs": 2.0}},
        strategy={"name": "evolution", "options": {"population": 16, "cycles": 5, "tournament": 8, "children": 4}},
        top_k=2,
        evaluator={"name": "finetune", "config": {"recipe": "fast-std", "train_rows": 4096}},
        full_epochs=6.0,
        final_epochs=6.0,
        final_seeds=1,
    )


def demo_folder(seed: int) -> Path:
    """The demo's default run folder: runs/demo for the default seed, runs/demo-s<seed> for another (a folder
    holds one run: `nasrec demo --seed 6` after `make demo` is another run, not a refused resume)."""
    return Path("runs/demo") if seed == DEMO_SEED else Path(f"runs/demo-s{seed}")


@user_errors
@resumable
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help="Run folder (resumable: finished stages are skipped; default runs/demo, with another --seed "
            "runs/demo-s<SEED>).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the whole run.")] = DEMO_SEED,
) -> None:
    """The whole pipeline on the bundled real Criteo rows, with a budget for a 2-core laptop (2-5 minutes)."""
    from nasrec.cli.search import draw_run, print_results
    from nasrec.search.pipeline import Pipeline

    check_seed(seed)
    out = out if out is not None else demo_folder(seed)
    summary = Pipeline(demo_config(seed), out, console=console).run()
    draw_run(out)
    print_results(summary, out)
    console.print(stage_times(summary.stage_seconds), highlight=False)


def stage_times(seconds: dict[str, float]) -> str:
    """The demo's last line: each stage's seconds, in run order (`stage times: supernet 4.9 s, search 5.7 s, ...`)."""
    return "stage times: " + ", ".join(f"{stage} {spent:.1f} s" for stage, spent in seconds.items())
