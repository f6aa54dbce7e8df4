"""What `nasrec evaluate` prints: each seed's own early stop, and a note for a score no better than a constant
guess."""

import re

from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.evaluators import FullTrain


def invoke(args: list[str]):
    return CliRunner().invoke(main.app, args, env={"COLUMNS": "200"})


def test_each_seed_says_where_it_stopped_and_the_mean_line_does_not_repeat_seed_0s():
    result = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.2", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    *seeds, mean = result.stdout.splitlines()
    assert len(seeds) == 2
    for line in seeds:
        assert re.fullmatch(
            r"  seed \d+: log loss 0\.\d{4}  AUC 0\.\d{4}  best at step \d+ of 5, no diverged steps", line
        ), line
    assert re.fullmatch(
        r"zoo:dlrm \(fae6797a825d374b\) on valid: log loss 0\.\d{4} ± 0\.\d{4}  AUC 0\.\d{4}  FLOPs 877,856  "
        r"dense params 846,225  \d+\.\d s",
        mean,
    ), mean


def test_a_score_no_better_than_a_constant_guess_is_noted(monkeypatch):
    monkeypatch.setattr(FullTrain, "constant_valid_log_loss", 0.25)  # a bar the one-step run cannot clear
    result = invoke(["evaluate", "zoo:dlrm", "--epochs", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "note: no better than a constant guess of the training rows' click rate (0.2500 on valid): more --epochs, "
        "or a calmer --lr, may help\n"
    )
    monkeypatch.setattr(FullTrain, "constant_valid_log_loss", 0.9)
    assert invoke(["evaluate", "zoo:dlrm", "--epochs", "0.05"]).stderr == ""
