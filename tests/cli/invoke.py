"""The commands as the tests run them: in-process (typer's CliRunner), 200 columns wide."""

from typer.testing import CliRunner

from nasrec.cli import genotype as genotype_cli
from nasrec.cli import main as main_cli

runner = CliRunner()


def nasrec(*args: str):
    return runner.invoke(main_cli.app, list(args), env={"COLUMNS": "200"})


def genotype(*args: str, columns: int = 200):
    return runner.invoke(genotype_cli.app, list(args), env={"COLUMNS": str(columns)})


def one_error(result, message: str) -> None:
    """The command printed exactly `error: message` and nothing else, and exited with 1."""
    assert (result.exit_code, result.stderr, result.stdout) == (1, f"error: {message}\n", ""), result.output
