"""Every option and argument of `nasrec` and `genotype` says in its help what it does."""

from __future__ import annotations

import click
import typer
from typer.testing import CliRunner

from nasrec.cli.genotype import app as genotype_app
from nasrec.cli.main import app


def _undocumented(command: click.Command, path: str) -> list[str]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        return [line for name, sub in subcommands.items() for line in _undocumented(sub, f"{path} {name}")]
    return [f"{path} {'/'.join(p.opts)}" for p in command.params if not getattr(p, "help", None)]


def _help(command: click.Command, *path: str) -> dict[str, str]:
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {p.name: p.help for p in command.params}  # type: ignore[attr-defined,misc]


def test_every_option_and_argument_has_help():
    nasrec, genotype = typer.main.get_command(app), typer.main.get_command(genotype_app)
    assert _undocumented(nasrec, "nasrec") + _undocumented(genotype, "genotype") == []


def test_help_says_what_the_easily_confused_options_mean():
    nasrec, genotype = typer.main.get_command(app), typer.main.get_command(genotype_app)
    assert _help(nasrec, "train-supernet")["warmup_fraction"] == (
        "Share of the steps in the supernet warm-up: the full supernet trained instead of a sampled path with a "
        "probability falling from 1 to 0 (not the learning-rate warm-up)."
    )
    for command in ("info", "mutate", "render", "encode"):
        assert _help(genotype, command)["file"] == "Genotype file, NasRec-ref file or zoo:<name>."
    assert _help(nasrec, "export")["out"] == "File to write: .pt2 a torch.export program, any other name ONNX (.onnx)."


def test_data_prepare_names_its_positional_parquet_files():
    result = CliRunner().invoke(app, ["data", "prepare", "--help"], env={"COLUMNS": "200"})
    assert "data prepare [OPTIONS] [FILE]...  " in result.stdout  # padded to the width
    assert "more Parquet files, with --parquet FILE (one table, rows in the command line's order)" in result.stdout
