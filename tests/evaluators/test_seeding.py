"""nasrec's seeded initialisations are reproducible and leave the caller's random stream where it was."""

from __future__ import annotations

import torch

from nasrec.data.spec import FeatureSpec
from nasrec.evaluators import build_evaluator
from nasrec.evaluators.oracle import GenotypeTeacher
from nasrec.evaluators.seeding import seeded
from nasrec.evaluators.supernet_training import SupernetTrainingConfig
from nasrec.genotype.zoo import load_zoo


def _untouched(call) -> list[torch.Tensor]:
    """Run `call` after seeding the caller's stream with 5: the stream's next draw is what it would have been,
    and what `call` returns (parameters) is returned."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    params = [p.detach().clone() for p in call().parameters()]
    assert torch.equal(torch.rand(3), expected)
    return params


def test_seeded_restores_the_callers_stream_and_repeats_its_own() -> None:
    torch.manual_seed(1)
    with seeded(7):
        a = torch.rand(2)
    after = torch.rand(2)
    torch.manual_seed(1)
    with seeded(7):
        assert torch.equal(torch.rand(2), a)
    assert torch.equal(torch.rand(2), after)


def test_supernet_and_teacher_initialisations_leave_the_callers_stream_alone() -> None:
    config = SupernetTrainingConfig(data="sample:criteo", space="nasrec-small", cap=1000)
    first = _untouched(config.build_supernet)
    assert all(torch.equal(a, b) for a, b in zip(first, _untouched(config.build_supernet), strict=True))
    spec = FeatureSpec.synthetic(13, [50] * 26)
    teacher = _untouched(lambda: GenotypeTeacher(load_zoo("dlrm"), spec, seed=3).model)
    assert all(
        torch.equal(a, b)
        for a, b in zip(teacher, _untouched(lambda: GenotypeTeacher(load_zoo("dlrm"), spec, seed=3).model), strict=True)
    )


def test_training_from_scratch_leaves_the_callers_stream_alone() -> None:
    evaluator = build_evaluator("full", {"data": "sample:criteo", "cap": 1000, "train": {"epochs": 0.05}})
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = evaluator.evaluate([load_zoo("dlrm")])[0]
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(9)  # another caller state: the same training
    assert evaluator.evaluate([load_zoo("dlrm")])[0].log_loss == first.log_loss
