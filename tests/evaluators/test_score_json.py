import math

from nasrec.evaluators.base import CurvePoint, Score, SeedRun
from nasrec.state import append_jsonl, read_jsonl


def test_a_score_with_a_nan_auc_and_a_nan_validation_reads_back_from_jsonl(tmp_path):
    """NaN is written to JSON as null: the AUC of one class and a NaN validation loss read back as NaN."""
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
