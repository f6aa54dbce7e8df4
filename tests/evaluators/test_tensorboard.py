"""`--tensorboard DIR`: the scalars written are read back from the event files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from nasrec.cli import main
from nasrec.errors import UsageError
from nasrec.evaluators import scalars
from nasrec.genotype import NASREC_SMALL, sample
from nasrec.search.executors import InProcessExecutor
from nasrec.search.random import RandomSearch
from nasrec.search.runner import run_search
from tests.search.formula import FormulaEvaluator
from tests.spaces import TINY

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read(folder) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {t: [(s.step, s.value) for s in events.Scalars(t)] for t in events.Tags()["scalars"]}


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(main.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_supernet_logs_every_steps_loss_and_lr(tmp_path, tiny_space_file):
    out, tb = tmp_path / "supernet", tmp_path / "tb"
    args = ["--data", "sample:criteo", "--space", tiny_space_file, "--epochs", "0.2", "--lr", "0.05"]
    invoke(["train-supernet", *args, "--min-warmup-steps", "4", "-o", str(out), "--tensorboard", str(tb)])
    found, report = read(tb), json.loads((out / "training.json").read_text())
    assert sorted(found) == ["supernet/loss", "supernet/lr"] and report["steps"] == 5
    assert [s for s, _ in found["supernet/loss"]] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([v for _, v in found["supernet/loss"]], report["first_losses"], rtol=1e-6)
    lr = [v for _, v in found["supernet/lr"]]  # linear warm-up over 4 steps, then the cosine's first step
    np.testing.assert_allclose(lr, [0.0125, 0.025, 0.0375, 0.05, 0.05], rtol=1e-6)


def test_evaluate_logs_the_training_curve_and_the_score(tmp_path, tiny_space_file):
    g = sample(TINY, rng=3)
    path, tb = tmp_path / "g.json", tmp_path / "tb"
    path.write_text(g.to_json())
    flags = ["--epochs", "1", "--patience", "1", "--batch-size", "1024", "--space", tiny_space_file]
    stdout = invoke(["evaluate", str(path), "--data", "sample:criteo", *flags, "--tensorboard", str(tb)])
    found = read(tb)
    prefix = f"full/{g.digest()}/train/seed"
    (loss,) = [t for t in found if t.startswith(prefix) and t.endswith("/loss")]
    assert len(found[loss]) == 11  # 11,960 training rows in batches of 1,024, the last one dropped
    (valid,) = found[loss.replace("/loss", "/valid_log_loss")]
    assert valid[0] == 11 and math.isfinite(valid[1])
    (step, value) = found["evaluate/valid_log_loss"][0]
    assert step == 0 and f"log loss {value:.4f}" in stdout
    assert {"evaluate/valid_auc", "evaluate/valid_log_loss"} <= set(found)


def test_search_logs_each_score_and_the_best_so_far(tmp_path):
    with scalars.tensorboard(tmp_path / "tb"):
        records = run_search(
            RandomSearch(NASREC_SMALL, seed=1, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "log.jsonl"
        )
    found = read(tmp_path / "tb")
    values = [r.score.value for r in records]
    np.testing.assert_allclose([v for _, v in found["search/score"]], values, rtol=1e-6)
    np.testing.assert_allclose([v for _, v in found["search/best_score"]], np.minimum.accumulate(values), rtol=1e-6)
    assert [s for s, _ in found["search/best_score"]] == [1, 2, 3, 4, 5, 6]
    assert not scalars.enabled()  # the writer is closed and removed afterwards


def test_rank_study_and_search_take_the_flag(tmp_path, monkeypatch):
    def fake(*args, **kwargs):
        scalars.add_scalar("rank/fake/kendall_tau", 0.5, 7)
        raise UsageError("stopped")

    monkeypatch.setattr("nasrec.evaluators.rank_study.rank_study", fake)
    result = CliRunner().invoke(
        main.app, ["rank-study", "-o", str(tmp_path / "r"), "--tensorboard", str(tmp_path / "tb")]
    )
    assert result.exit_code == 1 and result.stderr.strip() == "error: stopped"
    assert read(tmp_path / "tb") == {"rank/fake/kendall_tau": [(7, 0.5)]}
    assert "--tensorboard" in CliRunner().invoke(main.app, ["search", "--help"], env={"COLUMNS": "200"}).stdout
