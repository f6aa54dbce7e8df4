import json
import math

from nasrec.evaluators.base import CurvePoint, Score, SeedRun
from nasrec.genotype.zoo import load_zoo
from nasrec.records import Evaluation
from nasrec.state import append_jsonl, read_jsonl


def test_a_score_with_a_nan_auc_and_a_nan_validation_reads_back_from_jsonl(tmp_path):
    """The AUC of one class and a NaN validation loss read back as NaN."""
    nan = float("nan")
    curve = [CurvePoint(step=2, log_loss=nan), CurvePoint(step=4, log_loss=0.5)]
    run = SeedRun(seed=3, log_loss=0.5, auc=nan, steps=4, curve=curve)
    path = tmp_path / "scores.jsonl"
    append_jsonl(path, Score(log_loss=0.5, auc=nan, examples=7, seconds=1.0, evaluator="full", runs=[run]))
    (back,) = read_jsonl(path, Score)
    (again,) = back.runs
    assert math.isnan(again.auc) and again.log_loss == 0.5 and again.steps == 4
    assert [p.step for p in again.curve] == [2, 4] and math.isnan(again.curve[0].log_loss)
    assert again.curve[1].log_loss == 0.5


def test_a_score_of_nan_runs_reads_back_from_its_own_json_and_none_stays_none(tmp_path):
    """A run's NaN log loss was written as null and refused on reading ("Input should be a valid number"); a NaN
    `Score.log_loss` read back as None, a score with no log loss. NaN is now written "NaN", here and in records."""
    nan = float("nan")
    run = SeedRun(
        seed=0, log_loss=nan, auc=nan, steps=3, expected_log_loss=nan, curve=[CurvePoint(step=1, log_loss=nan)]
    )
    score = Score(log_loss=nan, auc=nan, log_loss_std=nan, examples=3, seconds=1.0, evaluator="full", runs=[run])
    text = score.model_dump_json()
    back = Score.model_validate_json(text)
    assert back.model_dump_json() == text and json.loads(text)["log_loss"] == "NaN"
    assert back.log_loss is not None and back.auc is not None and back.log_loss_std is not None
    assert all(math.isnan(v) for v in (back.log_loss, back.auc, back.log_loss_std, back.value))
    (again,) = back.runs
    assert again.expected_log_loss is not None
    assert all(math.isnan(v) for v in (again.log_loss, again.auc, again.expected_log_loss, again.curve[0].log_loss))
    g = load_zoo("dlrm")
    path = tmp_path / "evaluations.jsonl"
    append_jsonl(path, Evaluation(index=0, digest=g.digest(), genotype=g, score=score, seed=0, seconds=1.0))
    (record,) = read_jsonl(path, Evaluation)
    assert record.score is not None and record.score.model_dump_json() == text
    none = Score(log_loss=None, auc=None, examples=3, seconds=1.0, evaluator="params", objective=-5.0)
    assert Score.model_validate_json(none.model_dump_json()) == none


def test_a_score_written_with_nan_as_null_still_reads():
    """Files written before NaN was written "NaN": a run's null log loss (then unreadable) and AUC read as NaN; a
    score's null log loss and AUC as None, as they always did."""
    run = '{"seed": 0, "log_loss": null, "auc": null, "steps": 3, "curve": [{"step": 1, "log_loss": null}]}'
    old = f'{{"log_loss": null, "auc": null, "examples": 3, "seconds": 1.0, "evaluator": "full", "runs": [{run}]}}'
    score = Score.model_validate_json(old)
    assert score.log_loss is None and score.auc is None
    (again,) = score.runs
    assert math.isnan(again.log_loss) and math.isnan(again.auc) and math.isnan(again.curve[0].log_loss)
