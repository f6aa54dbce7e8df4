"""Scratch trainings in a folder checkpoint as they go: killed and run again, a genotype's seeds resume where they
were saved and end with the scores of an uninterrupted run; its checkpoints are deleted once it is scored."""

import numpy as np
import pytest

from nasrec.evaluators import FullTrain, TrainConfig, TrainingDiverged
from nasrec.evaluators.base import derive_seed
from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.evaluators.training import Trainer
from nasrec.genotype import sample
from tests.spaces import TINY

G = sample(TINY, "single-operator-any-connection", 0)
RECIPE = TrainConfig(
    epochs=0.5, batch_size=256, min_warmup_steps=0, patience=2, eval_every=4, checkpoint_every=2, checkpoint_seconds=0
)
SETTINGS = {"data": "sample:criteo", "cap": 5000, "seeds": 2, "train": RECIPE, "min_gain": 0}


def test_a_killed_training_resumes_from_its_checkpoint_and_scores_as_an_uninterrupted_one(
    tmp_path, monkeypatch, train_steps
):
    whole = FullTrain(**SETTINGS).predict(G)
    assert train_steps.take() == sum(r.steps for r in whole.score.runs)
    second = derive_seed(1, G.digest())
    real = Trainer._train_step

    def killed(self, batch, factor):
        if self.config.seed == second and self.step == 7:
            raise SystemExit("killed")  # the system killing the run in the second seed's 8th step
        real(self, batch, factor)

    folder = tmp_path / "checkpoints"
    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", killed)
        with pytest.raises(SystemExit):
            FullTrain(checkpoints=folder, **SETTINGS).predict(G)
    first = derive_seed(0, G.digest())
    ckpt = FullTrain(checkpoints=folder, **SETTINGS).checkpoint
    done, cut = load_checkpoint(ckpt(G, first, "train", 0)), load_checkpoint(ckpt(G, second, "train", 0))
    assert done["optimizers"] == [] and (done["stopped"] or done["step"] == whole.score.runs[0].steps)
    assert cut["step"] == 6 and cut["optimizers"]
    assert train_steps.take() == whole.score.runs[0].steps + 7

    again = FullTrain(checkpoints=folder, **SETTINGS).predict(G)
    assert train_steps.take() == whole.score.runs[1].steps - 6  # the first seed is read back, the second resumed
    assert again.score.runs == whole.score.runs  # losses, AUCs, steps, validation curves: all equal
    assert [p.log_loss for p in again.score.runs[1].curve] == [p.log_loss for p in whole.score.runs[1].curve]
    assert again.score.log_loss == whole.score.log_loss and np.array_equal(again.logits, whole.logits)
    assert not folder.exists()  # scored: its checkpoints are deleted, and the folder they left empty


def test_a_genotype_whose_every_try_diverged_leaves_no_checkpoint(tmp_path, monkeypatch):
    def diverged(self, batch, factor):
        if self.step == 3:
            assert self.checkpoint is not None and self.checkpoint.exists()  # saved at step 2
            raise TrainingDiverged("train: loss is nan at step 4", step=4, loss=float("nan"), detail="loss is nan")
        real(self, batch, factor)

    real = Trainer._train_step
    monkeypatch.setattr(Trainer, "_train_step", diverged)
    full = FullTrain(checkpoints=tmp_path / "checkpoints", **{**SETTINGS, "retries": 1})
    with pytest.raises(TrainingDiverged, match=r"in all 2 tries"):
        full.predict(G)
    assert list(tmp_path.iterdir()) == []  # a failure recorded as such is not trained again: nothing to resume


def test_a_final_model_killed_in_its_retraining_reads_its_early_stopped_run_back(tmp_path, monkeypatch, train_steps):
    settings = {**SETTINGS, "seeds": 1, "train_split": "train+valid", "eval_split": "test"}
    whole = FullTrain(**settings).predict(G)
    steps = train_steps.take()
    real = Trainer._train_step

    def killed(self, batch, factor):
        if self.tag.endswith("train_valid/seed" + str(self.config.seed)) and self.step == 5:
            raise SystemExit("killed")  # in the retraining on train + valid, after its checkpoint at step 4
        real(self, batch, factor)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", killed)
        with pytest.raises(SystemExit):
            FullTrain(checkpoints=tmp_path / "checkpoints", **settings).predict(G)
    retrained = whole.score.runs[0].steps  # the retraining's steps; before them, the early-stopped run's
    assert train_steps.take() == steps - retrained + 5
    again = FullTrain(checkpoints=tmp_path / "checkpoints", **settings).predict(G)
    assert train_steps.take() == retrained - 4  # the early-stopped run read back, the retraining resumed at step 4
    assert again.score.runs == whole.score.runs and np.array_equal(again.logits, whole.logits)
    assert list(tmp_path.iterdir()) == []


def test_a_training_resumed_near_its_end_trains_compiled_as_it_began(tmp_path, monkeypatch):
    """Compiling is decided by the run's length: a long run killed in its last `COMPILE_MIN_STEPS` steps used to
    resume eagerly (compiled and eager agree within 1e-5, not exactly). torch.compile itself is stood in for."""
    from nasrec.compiler import StandaloneModel
    from nasrec.evaluators import training

    compiled = []

    def fake_compiled(self):
        compiled.append(True)
        return lambda dense, sparse: self(dense, sparse)

    monkeypatch.setattr(training, "COMPILE_MIN_STEPS", 10)
    monkeypatch.setattr(training.shutil, "which", lambda name: "/usr/bin/c++")
    monkeypatch.setattr(StandaloneModel, "compiled_forward", fake_compiled)
    g = next(
        g
        for g in (sample(TINY, "single-operator-any-connection", s) for s in range(50))
        if all("attention" not in b.sparse.ops for b in g.blocks)
    )
    settings = {**SETTINGS, "seeds": 1, "train": RECIPE.model_copy(update={"patience": None})}
    real = Trainer._train_step

    def killed(self, batch, factor):
        if self.step == 17:
            raise SystemExit("killed")  # 17 of the run's 23 steps done (saved at 16): 7 left, fewer than 10
        real(self, batch, factor)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", killed)
        with pytest.raises(SystemExit):
            FullTrain(checkpoints=tmp_path, **settings).predict(g)
    assert compiled == [True]
    FullTrain(checkpoints=tmp_path, **settings).predict(g)
    assert compiled == [True, True]  # the resumed part trains compiled too
