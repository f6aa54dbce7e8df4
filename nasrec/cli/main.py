"""`nasrec`: data preparation, supernet training, search pipeline, evaluation, studies, reports, demo.

Each command's module is imported when the command runs or shows its own help (`nasrec.cli.lazy`): `nasrec
--help` and `nasrec data --help` start without torch."""

from __future__ import annotations

import typer

from nasrec.cli.common import Version, warnings_as_lines
from nasrec.cli.lazy import lazy_group

COMMANDS = (
    ("export", "nasrec.cli.export:export_cmd"),
    ("search", "nasrec.cli.search:search"),
    ("train-supernet", "nasrec.cli.train:train_supernet_cmd"),
    ("evaluate", "nasrec.cli.train:evaluate"),
    ("rank-study", "nasrec.cli.rank_study:rank_study_cmd"),
    ("report", "nasrec.cli.report:report"),
    ("demo", "nasrec.cli.demo:demo"),
)
"""`nasrec`'s commands, in the order `nasrec --help` lists them (then `data`): name, "module:function"."""
DATA_COMMANDS = (
    ("prepare", "nasrec.cli.data:prepare_cmd"),
    ("info", "nasrec.cli.data:info_cmd"),
    ("sample", "nasrec.cli.data:sample_cmd"),
    ("synthetic", "nasrec.cli.data:synthetic_cmd"),
)
"""`nasrec data`'s commands, as `nasrec.cli.data`'s app registers them."""

app = typer.Typer(
    cls=lazy_group(*COMMANDS),
    help="Neural architecture search for CTR models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(
    typer.Typer(cls=lazy_group(*DATA_COMMANDS), no_args_is_help=True, add_completion=False),
    name="data",
    help="Prepare datasets and inspect prepared ones.",
)
__all__ = ["app", "main"]


@app.callback()
def _root(version: Version = False) -> None:
    """Neural architecture search for CTR models: data, supernet, search, evaluation."""
    warnings_as_lines()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
