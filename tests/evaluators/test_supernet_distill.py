"""In-place distillation in supernet training: each step trains the whole supernet on the labels, then the sampled
path on the whole supernet's predicted probabilities."""

from __future__ import annotations

import torch

from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.supernet_training import (
    PathSampler,
    SupernetTrainer,
    SupernetTrainingConfig,
    train_supernet,
    training_report,
)
from nasrec.evaluators.training import TrainConfig
from nasrec.genotype import get_space


def _batch():
    batch = next(iter(open_data("sample:criteo").split("train").batches(256, shuffle=True, seed=3)))
    return batch.dense, batch.sparse, batch.label


def test_a_distilled_step_is_the_whole_supernets_step_on_labels_then_the_paths_on_its_predictions(tiny_space_file):
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000, sampler="any-path")
    paths = PathSampler(get_space(tiny_space_file), "any-path", 100, 0.0, "whole", seed=0)
    whole, path = paths.whole(0), paths(0)
    assert whole != path and whole == paths.whole(0)  # the teacher is a function of (seed, step)
    dense, sparse, label = _batch()

    distilled = config.build_supernet()
    trainer = SupernetTrainer(distilled, TrainConfig(), paths, teacher=paths.whole)
    trainer._train_step((dense, sparse, label), 1.0)

    # the same two updates by hand, one trainer (shared Adagrad state): whole on labels, then path on its predictions
    by_hand = config.build_supernet()
    with torch.no_grad():
        soft = torch.sigmoid(by_hand(dense, sparse, whole).reshape(-1))
    order = iter([whole, path])
    plain = SupernetTrainer(by_hand, TrainConfig(), lambda step: next(order))
    plain._train_step((dense, sparse, label), 1.0)
    plain._train_step((dense, sparse, soft), 1.0)

    assert trainer.step == 1 and len(trainer.losses) == 1  # one batch, one step, the path's loss guarded
    assert trainer.losses[0] == plain.losses[1]
    before = config.build_supernet().state_dict()
    got, want = distilled.state_dict(), by_hand.state_dict()
    assert all(torch.equal(got[name], want[name]) for name in want)
    moved = [name for name in want if not torch.equal(got[name], before[name])]
    assert len(moved) > len(want) // 2  # the whole supernet trained, not only the path's slices


def test_a_distilled_supernet_trains_without_diverging_and_differs_from_a_plain_one(tmp_path, tiny_space_file):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, distill=True, train=TrainConfig(epochs=0.5)
    )
    distilled = train_supernet(config, tmp_path / "distilled")
    report = training_report(tmp_path / "distilled")
    assert report is not None and report["steps"] > 10 and report["divergence"]["count"] == 0
    plain = train_supernet(config.model_copy(update={"distill": False}), tmp_path / "plain")
    assert not torch.equal(distilled.head.head_w, plain.head.head_w)
