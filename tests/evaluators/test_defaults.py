"""The CLI defaults on the bundled real rows: no diverged step, a validation loss that falls, early stopping
that keeps the best epoch, per-seed scores."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli.main import app
from nasrec.evaluators import FullTrain, SupernetProxy, SupernetTrainingConfig, train_supernet
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE, training_report
from nasrec.genotype import get_space, sample
from nasrec.genotype.zoo import load_zoo


def test_supernet_at_the_cli_defaults_has_no_diverged_step_and_no_subnet_worse_than_the_constant(
    tmp_path, tiny_space_file
):
    """23 steps at the CLI defaults: no diverged step, and every inherited subnet at most at the constant
    predictor's loss (where the head starts); the paper's random head starts far worse. On these rows the
    inherited subnets barely move from the constant (docs/training.md: the schedules table)."""
    assert SupernetTrainingConfig(data="sample:criteo").train == SUPERNET_RECIPE  # what the CLI uses
    # the tiny space's 16-wide blocks feed the raw FM term to the head; LayerNorm on it, as the evaluator
    # fixtures do (docs/compiler.md, `norm_raw_fm`): this test is about the schedule
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000, norm_raw_fm=True)
    one_step = SUPERNET_RECIPE.model_copy(update={"epochs": 0.05})  # one step at 0.12 / 1000: the start
    for name, train in (("random", one_step.model_copy(update={"head_init": False})), ("start", one_step)):
        train_supernet(config.model_copy(update={"train": train}), tmp_path / name)
    train_supernet(config, tmp_path / "trained")
    report = training_report(tmp_path / "trained")
    assert report["steps"] == 23 and report["divergence"] == {"count": 0, "first_step": None, "worst_loss": None}
    space = get_space(tiny_space_file)
    genotypes = [sample(space, "single-operator-any-connection", [5, i]) for i in range(8)]

    def scores(name: str) -> list[float]:
        proxy = SupernetProxy(data="sample:criteo", supernet=str(tmp_path / name / "checkpoint.pt"))
        return [s.log_loss for s in proxy.evaluate(genotypes)]

    random_head, constant, after = scores("random"), scores("start"), scores("trained")
    assert max(constant) - min(constant) < 1e-4  # the head at the base rate: every subnet is the constant
    c = float(np.median(constant))
    assert max(after) <= c + 1e-4 and np.median(after) <= c
    assert np.median(random_head) > c + 0.02  # what the head's base-rate start protects from


def test_scratch_training_at_the_cli_defaults_stops_early_without_diverging_and_keeps_seeds():
    full = FullTrain(data="sample:criteo", seeds=2, train=SCRATCH_RECIPE)
    (score,) = full.evaluate([load_zoo("dlrm")])
    assert len({r.seed for r in score.runs}) == 2
    for run in score.runs:
        assert run.diverged_steps == 0
        losses = [p.log_loss for p in run.curve]
        assert min(losses) < losses[0] - 0.01  # validation loss falls
        assert run.best_step == run.curve[int(np.argmin(losses))].step < run.steps  # stopped after the best epoch
        assert run.steps < 10 * 22  # before the 10-epoch maximum
    assert score.log_loss == pytest.approx(np.mean([r.log_loss for r in score.runs]))
    assert score.log_loss_std == pytest.approx(np.std([r.log_loss for r in score.runs], ddof=1))
    assert score.log_loss < 0.51


def evaluate_cli(*flags: str) -> str:
    result = CliRunner().invoke(
        app, ["evaluate", "zoo:dlrm", "--data", "sample:criteo", *flags], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def valid_log_loss(stdout: str) -> float:
    return float(re.search(r"on valid: log loss (\d\.\d+)", stdout)[1])


def test_ten_epochs_at_the_cli_defaults_score_no_worse_than_one():
    """Early stopping makes `--epochs` a maximum: 10 epochs no longer overfit past what 1 epoch scores."""
    one, ten = evaluate_cli("--epochs", "1"), evaluate_cli("--epochs", "10")
    assert valid_log_loss(ten) <= valid_log_loss(one)
    assert "no diverged steps" in one and "no diverged steps" in ten
    best, steps = map(int, re.search(r"best at step (\d+) of (\d+)", ten).groups())
    assert best < steps < 10 * 23  # stopped early, the best epoch's weights kept


def test_a_scratch_run_reports_its_diverged_steps_first_step_and_worst_loss():
    stdout = evaluate_cli("--epochs", "2", "--lr", "1", "--min-warmup-steps", "0", "--patience", "0", "--seeds", "2")
    lines = re.findall(
        r"seed \d+: .* 46 steps, (\d+) diverged steps? \(first at step (\d+), worst loss ([\d.]+)\)", stdout
    )
    assert len(lines) == 2, stdout
    for count, first, worst in lines:
        assert int(count) >= 1 and 1 <= int(first) <= 46 and float(worst) > 3 * 0.5  # > 3x a running median


def test_a_final_retraining_on_train_and_valid_runs_the_steps_early_stopping_chose():
    """The `retrain` protocol: early stopping on `train` picks the best step; the train+valid run trains that
    many epochs' worth of its larger epochs (best_step x its batches per epoch / train's), without validating."""
    from nasrec.evaluators.data_ref import open_data

    recipe = SCRATCH_RECIPE.model_copy(update={"epochs": 6})
    chosen = FullTrain(data="sample:criteo", train=recipe).evaluate([load_zoo("dlrm")])[0].runs[0]
    final = FullTrain(data="sample:criteo", train=recipe, train_split="train+valid", eval_split="test")
    run = final.evaluate([load_zoo("dlrm")])[0].runs[0]
    data = open_data("sample:criteo")
    per_epoch = {s: data.split(s).full_batches(recipe.batch_size) for s in ("train", "train+valid")}
    assert per_epoch["train+valid"] > per_epoch["train"] and chosen.best_step < chosen.steps
    assert run.steps == max(1, round(chosen.best_step * per_epoch["train+valid"] / per_epoch["train"]))
    assert run.seed == chosen.seed and run.curve == []  # same seed; nothing left to validate on
