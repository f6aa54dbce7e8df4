"""`FullTrain.predict(genotype, save_weights=FILE)`: the trained model's weights, of the seed that validated
best and of the try its score comes from, with the architecture's digest; nothing else is left beside the file."""

import numpy as np
import pytest
import torch

from nasrec.compiler import compile_standalone
from nasrec.compiler.standalone import recorded_digest
from nasrec.evaluators import FullTrain
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.metrics import log_loss_from_logits
from nasrec.evaluators.training import TrainConfig
from nasrec.genotype import sample
from tests.spaces import TINY

GENOTYPE = sample(TINY, "single-operator-any-connection", 3)
RECIPE = TrainConfig(epochs=2, min_warmup_steps=10, patience=2)


def reloaded_log_loss(full: FullTrain, path) -> float:
    """The validation log loss of the model rebuilt from the file."""
    state = torch.load(path, weights_only=True)
    assert recorded_digest(state) == GENOTYPE.active_digest()
    model = compile_standalone(GENOTYPE, full.data.spec.capped(full.cfg.cap), layernorm=True)
    model.load_state_dict(state["model"])
    model.eval()
    rows = full.rows("valid")
    with torch.no_grad():
        z = torch.cat([model(b.dense, b.sparse).reshape(-1) for b in rows.iter_batches()]).numpy()
    return log_loss_from_logits(rows.labels, z.astype(np.float64))


def test_the_seed_that_validated_best_is_saved_and_scores_as_it_did(tmp_path):
    target = tmp_path / "model.pt"
    full = FullTrain(data="sample:criteo", cap=5000, train=RECIPE, seeds=2)
    score = full.predict(GENOTYPE, save_weights=target).score
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    best = min(score.runs, key=lambda r: min(p.log_loss for p in r.curve))
    assert best.log_loss != max(r.log_loss for r in score.runs)  # the two seeds differ: the choice is real
    assert reloaded_log_loss(full, target) == pytest.approx(best.log_loss, abs=1e-9)


def test_of_retried_tries_the_one_the_score_comes_from_is_saved(tmp_path):
    target = tmp_path / "model.pt"  # a bar no run clears: three tries, the best validation kept
    full = FullTrain(data="sample:criteo", cap=5000, train=RECIPE, min_gain=0.9)
    score = full.predict(GENOTYPE, save_weights=target).score
    assert score.runs[0].retries > 0 and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    assert reloaded_log_loss(full, target) == pytest.approx(score.runs[0].log_loss, abs=1e-9)


def test_a_training_that_diverges_leaves_no_file(tmp_path):
    hot = RECIPE.model_copy(update={"lr": 1e6, "min_warmup_steps": 1})
    full = FullTrain(data="sample:criteo", cap=5000, train=hot, retries=1)
    with pytest.raises(TrainingDiverged):
        full.predict(GENOTYPE, save_weights=tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_model_retrained_on_train_and_valid_is_kept_by_the_validation_that_chose_its_epochs(tmp_path, monkeypatch):
    chosen = {}  # seed -> the best validation of the run on train that chose its epochs
    real = FullTrain._train

    def train(self, genotype, seed, split, steps, recipe, retry=0):
        model, trainer = real(self, genotype, seed, split, steps, recipe, retry)
        if split == "train":
            chosen[seed] = min(p.log_loss for p in trainer.curve)
        return model, trainer

    monkeypatch.setattr(FullTrain, "_train", train)
    target = tmp_path / "model.pt"
    full = FullTrain(data="sample:criteo", cap=5000, train=RECIPE, seeds=2, train_split="train+valid")
    score = full.predict(GENOTYPE, save_weights=target).score
    assert all(not run.curve for run in score.runs)  # the retrained models never validated
    best = min(chosen, key=chosen.get)
    assert best == score.runs[1].seed  # the second seed validated best: keeping the first would be wrong
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    state = torch.load(target, weights_only=True)
    model = compile_standalone(GENOTYPE, full.data.spec.capped(full.cfg.cap), layernorm=True)
    model.load_state_dict(state["model"])
    model.eval()
    rows = full.rows("valid")  # scored on valid, which it trained on: the kept seed's own score comes back
    with torch.no_grad():
        z = torch.cat([model(b.dense, b.sparse).reshape(-1) for b in rows.iter_batches()]).numpy()
    assert log_loss_from_logits(rows.labels, z.astype(np.float64)) == pytest.approx(score.runs[1].log_loss, abs=1e-9)


def test_an_interrupted_training_leaves_no_file_and_a_rerun_clears_what_a_killed_one_left(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    stale = tmp_path / "model.pt.seed7.partial"  # a killed run's
    stale.write_bytes(b"old")
    full = FullTrain(data="sample:criteo", cap=5000, train=RECIPE, seeds=2)
    real, calls = FullTrain._seed, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the second seed, after the first seed's file was written
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FullTrain, "_seed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        full.predict(GENOTYPE, save_weights=target)
    assert list(tmp_path.iterdir()) == []
    stale.write_bytes(b"old")
    monkeypatch.setattr(FullTrain, "_seed", real)
    full.predict(GENOTYPE, save_weights=target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
