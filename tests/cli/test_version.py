"""`nasrec --version` and `genotype --version` print the installed package's version, and nothing else."""

import importlib.metadata

import pytest
from typer.testing import CliRunner

import nasrec
from nasrec.cli import genotype, main


@pytest.mark.parametrize("app", [main.app, genotype.app])
def test_version_prints_the_package_version_and_exits_0(app):
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"nasrec {nasrec.__version__}\n", "")
    assert result.stdout == f"nasrec {importlib.metadata.version('nasrec')}\n"
