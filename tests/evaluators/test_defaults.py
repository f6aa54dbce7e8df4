"""The CLI defaults on the bundled real rows: no diverged step, a validation loss that falls, early stopping
that keeps the best epoch, per-seed scores."""

import numpy as np
import pytest

from nasrec.evaluators import FullTrain, SupernetProxy, SupernetTrainingConfig, train_supernet
from nasrec.evaluators.full_train import SCRATCH_RECIPE
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE, training_report
from nasrec.genotype import get_space, sample
from nasrec.genotype.zoo import load_zoo


def test_supernet_at_the_cli_defaults_has_no_diverged_step_and_beats_its_random_start(tmp_path, tiny_space_file):
    assert SupernetTrainingConfig(data="sample:criteo").train == SUPERNET_RECIPE  # what the CLI uses
    # the tiny space's 16-wide blocks feed the raw FM term to the head; LayerNorm on it, as the evaluator
    # fixtures do (docs/compiler.md, `norm_raw_fm`): this test is about the schedule
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000, norm_raw_fm=True)
    untrained = config.model_copy(
        update={"train": SUPERNET_RECIPE.model_copy(update={"epochs": 0.05, "head_init": False})}
    )
    train_supernet(untrained, tmp_path / "start")  # one step at a learning rate of 0.12 / 1000: the random start
    train_supernet(config, tmp_path / "trained")
    report = training_report(tmp_path / "trained")
    assert report["steps"] == 23 and report["divergence"] == {"count": 0, "first_step": None, "worst_loss": None}
    space = get_space(tiny_space_file)
    genotypes = [sample(space, "single-operator-any-connection", [5, i]) for i in range(8)]
    before = [
        s.log_loss
        for s in SupernetProxy(data="sample:criteo", supernet=str(tmp_path / "start/checkpoint.pt")).evaluate(genotypes)
    ]
    after = [
        s.log_loss
        for s in SupernetProxy(data="sample:criteo", supernet=str(tmp_path / "trained/checkpoint.pt")).evaluate(
            genotypes
        )
    ]
    assert np.median(after) < np.median(before) - 0.02
    assert max(after) < 0.54  # the constant predictor scores 0.5363 on these validation rows


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
