"""A run killed after a top-k or final training finished but before its record was written reads the training
back from its checkpoints on the rerun instead of training it again; once recorded, the checkpoints are gone, also
where the kill came between the record and their deletion."""

from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from nasrec.evaluators import FullTrain
from nasrec.evaluators.base import Score
from nasrec.evaluators.training import Trainer
from nasrec.genotype import sample
from nasrec.records import Evaluation
from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.state import stages
from tests.spaces import TINY

G = sample(TINY, "single-operator-any-connection", 0)
RUN = {"data": "sample:criteo", "supernet": {}, "top_k": 1, "seed": 3, "full_epochs": 0.3, "final_epochs": 0.3}


def pipeline(tmp_path) -> Pipeline:
    run = RunConfig(**RUN, final_seeds=1, final_protocol="keep")
    p = Pipeline(run, tmp_path / "run", console=Console(quiet=True), progress=False)
    p.paths.root.mkdir(parents=True, exist_ok=True)
    return p


@pytest.fixture
def steps(monkeypatch) -> list[int]:
    taken, real = [0], Trainer._train_step

    def counted(self, batch, factor):
        taken[0] += 1
        return real(self, batch, factor)

    monkeypatch.setattr(Trainer, "_train_step", counted)
    return taken


def killed_at_the_record(monkeypatch):
    """The system killing the run while it appends the record, after the training finished."""

    def append(path, record):
        raise SystemExit("killed")

    monkeypatch.setattr(stages, "append_jsonl", append)


def proxy_evaluation() -> Evaluation:
    score = Score(log_loss=0.47, auc=0.7, examples=1495, seconds=1.0, evaluator="finetune", config={})
    return Evaluation(index=0, digest=G.digest(), genotype=G, score=score, seed=3, seconds=1.0)


def stage_of(p: Pipeline, stage: str, tmp_path) -> tuple[Callable[[], Score | None], Path]:
    """A call that runs the top-k or final stage on `G` and returns its score, and the stage's checkpoint folder."""
    if stage == "topk":
        log = tmp_path / "run" / "topk.jsonl"
        return lambda: p.train_top_k([proxy_evaluation()], log)[0].full, p.paths.checkpoints(log)
    return lambda: p.final([("NASRecNet", "nasrec", G)])[0].test, p.paths.checkpoints(p.paths.final)


@pytest.mark.parametrize("stage", ["topk", "final"])
def test_a_run_killed_before_a_trainings_record_reads_it_back_and_then_deletes_its_checkpoints(
    tmp_path, monkeypatch, steps, stage
):
    run, folder = stage_of(pipeline(tmp_path), stage, tmp_path)
    with monkeypatch.context() as m:
        killed_at_the_record(m)
        with pytest.raises(SystemExit):
            run()
    trained = steps[0]
    assert trained > 0 and list(folder.glob(f"{G.digest()}-*.pt"))  # trained; its checkpoints kept
    score = run()
    assert steps[0] == trained  # read back: not one step trained again
    assert score is not None and score.runs[0].steps > 0
    assert not folder.exists()  # recorded: its checkpoints deleted, and the folder they left empty


@pytest.mark.parametrize("stage", ["topk", "final"])
def test_a_run_killed_between_a_record_and_deleting_its_checkpoints_deletes_them_when_run_again(
    tmp_path, monkeypatch, steps, stage
):
    run, folder = stage_of(pipeline(tmp_path), stage, tmp_path)

    def killed(self, genotype):
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(FullTrain, "forget", killed)
        with pytest.raises(SystemExit):
            run()
    trained = steps[0]
    assert list(folder.glob(f"{G.digest()}-*.pt"))  # recorded, its checkpoints still there
    first = run()
    assert steps[0] == trained and first is not None  # the record read back
    assert not folder.exists()
