"""`nasrec`: the main command (data preparation, search pipeline, demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasrec.cli import data
from nasrec.cli.common import console, user_errors

app = typer.Typer(help="Neural architecture search for CTR models.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.add_typer(data.app, name="data", help="Prepare datasets and inspect prepared ones.")


@app.callback()
def _root() -> None:
    """Neural architecture search for CTR models: data, supernet, search, evaluation."""


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Sample a NASRec-Full genotype, validate it, print its summary and write it to OUT/genotype.json."""
    from nasrec.cli.genotype import info
    from nasrec.genotype import NASREC_FULL, sample, save

    g = NASREC_FULL.check(sample(NASREC_FULL, "single-operator-any-connection", seed))
    path = save(g, out / "genotype.json")
    info(str(path), features=None, layernorm=True)
    console.print(f"valid NASRec-Full genotype {g.digest()} written to {path}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
