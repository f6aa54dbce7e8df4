"""Oracle data: true click probabilities stored with the labels; expected log loss and regret."""

import numpy as np
import pytest

from nasrec.data import PreparedData
from nasrec.evaluators.oracle import make_oracle, teacher_genotype
from nasrec.evaluators.scoring import EvalRows, bayes_rate, eval_rows, expected_log_loss, oracle_metrics


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    data = make_oracle(6000, "random:nasrec-full", scale=2.0, seed=3)
    return data.save(tmp_path_factory.mktemp("oracle") / "data")


def test_oracle_data_keeps_the_true_probabilities_and_its_labels_follow_them(oracle):
    reopened = PreparedData.open(oracle.path)
    assert reopened.prob is not None and reopened.prob.shape == (6000,)
    p, y = np.asarray(reopened.prob), np.asarray(reopened.label)
    assert p.min() > 0 and p.max() < 1
    assert abs(y.mean() - p.mean()) < 0.02 and abs(p.mean() - 0.25) < 0.01
    # labels are Bernoulli(p): rows with high p click far more often than rows with low p
    hi, lo = p > np.quantile(p, 0.8), p < np.quantile(p, 0.2)
    assert y[hi].mean() > y[lo].mean() + 0.2
    assert reopened.meta.options["teacher"].startswith("genotype ")


def test_the_true_probabilities_have_zero_regret_and_anything_else_positive_regret(oracle):
    rows = eval_rows(oracle, "valid", 4096)
    truth = np.log(rows.probs / (1 - rows.probs))
    exact = oracle_metrics(rows, truth)
    assert abs(exact["regret"]) < 1e-6
    assert exact["expected_log_loss"] == pytest.approx(bayes_rate(rows.probs), abs=1e-6)
    rng = np.random.default_rng(0)
    for other in (truth + rng.normal(0, 0.3, truth.shape), np.zeros_like(truth), truth * 0.5, truth + 0.2):
        assert oracle_metrics(rows, other)["regret"] > 1e-4


def test_expected_log_loss_is_the_mean_log_loss_over_label_draws():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.6, 200)
    z = rng.normal(-1, 1, 200)
    draws = rng.random((20_000, 200)) < p
    q = 1 / (1 + np.exp(-z))
    empirical = -np.mean(np.where(draws, np.log(q), np.log(1 - q)))
    assert expected_log_loss(p, z) == pytest.approx(empirical, abs=2e-3)


def test_rows_without_probabilities_report_no_oracle_metrics():
    rows = EvalRows(np.zeros((3, 13), np.float32), np.zeros((3, 26), np.int16), np.zeros(3), None, 4096)
    assert oracle_metrics(rows, np.zeros(3)) == {}


def test_teacher_references():
    assert teacher_genotype("zoo:dlrm").meta["name"] == "DLRM-like"
    a, b = teacher_genotype("random:nasrec-full", 0), teacher_genotype("random:nasrec-full", 1)
    assert a.digest() != b.digest() and teacher_genotype("random:nasrec-full", 0).digest() == a.digest()


def test_the_synthetic_command_draws_labels_from_a_genotype_teacher(tmp_path):
    from typer.testing import CliRunner

    from nasrec.cli import main as main_cli

    runner = CliRunner()
    result = runner.invoke(
        main_cli.app,
        [
            "data",
            "synthetic",
            "-o",
            str(tmp_path / "d"),
            "--rows",
            "3000",
            "--teacher",
            "zoo:dlrm",
            "--teacher-scale",
            "1.5",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "true click probabilities stored (prob.npy); Bayes rate 0." in result.stdout
    data = PreparedData.open(tmp_path / "d")
    assert data.prob is not None and len(data) == 3000
    bad = runner.invoke(main_cli.app, ["data", "synthetic", "-o", str(tmp_path / "e"), "--teacher-scale", "0"])
    assert (bad.exit_code, bad.stderr) == (1, "error: --teacher-scale: positive, got 0.0\n")
    assert not (tmp_path / "e").exists()
    missing = tmp_path / "nope.json"  # the file named once: the genotype's error names it
    bad = runner.invoke(main_cli.app, ["data", "synthetic", "-o", str(tmp_path / "e"), "--teacher", str(missing)])
    assert (bad.exit_code, bad.stderr) == (
        1,
        f"error: --teacher {missing}: cannot read file: No such file or directory\n",
    )


def test_a_teacher_from_a_genotype_file(tmp_path):
    from nasrec.genotype.zoo import load_zoo

    path = tmp_path / "teacher.json"
    path.write_text(load_zoo("deepfm").to_json())
    assert teacher_genotype(str(path)).digest() == load_zoo("deepfm").digest()
    data = make_oracle(2000, str(path), scale=1.0, seed=0)
    assert data.prob is not None and data.meta.options["teacher"].startswith("genotype ")
    assert load_zoo("deepfm").digest() in data.meta.options["teacher"]


def test_a_trained_score_reports_regret_and_expected_log_loss_on_oracle_data(oracle):
    from nasrec.evaluators import FullTrain
    from nasrec.evaluators.training import TrainConfig
    from nasrec.genotype.zoo import load_zoo

    full = FullTrain(data=str(oracle.path), seeds=2, train=TrainConfig(epochs=1, batch_size=512, lr=0.05))
    (score,) = full.evaluate([load_zoo("dlrm")])
    rows = eval_rows(oracle, "valid", 4096)
    assert score.regret is not None and score.regret > 0
    assert score.expected_log_loss == pytest.approx(bayes_rate(rows.probs) + score.regret)
    assert score.regret == pytest.approx(np.mean([run.regret for run in score.runs]))  # the mean over seeds
