"""Settings that would run silently wrong are refused by the evaluators' config models, naming the field."""

import pytest
from pydantic import ValidationError

from nasrec.evaluators.full_train import FullTrainConfig
from nasrec.evaluators.proxy import FinetuneConfig

PROXY = {"data": "sample:criteo", "supernet": "ckpt.pt"}


def refusal(model, **config) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as info:
        model(**config)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("train_rows", -5),
        ("train_rows", 0),
        ("valid_rows", -5),
        ("valid_rows", 0),
        ("max_iter", 0),
        ("batch_size", 0),
        ("lr", 0.0),
    ],
)
def test_the_finetune_proxy_refuses_a_non_positive_setting(field, value):
    assert refusal(FinetuneConfig, **PROXY, **{field: value}) == [((field,), "Input should be greater than 0")]


def test_the_finetune_proxy_still_takes_valid_rows_none_for_the_whole_split():
    assert FinetuneConfig(**PROXY, valid_rows=None).valid_rows is None


@pytest.mark.parametrize("steps", [[-3], [5, -1]])
def test_full_training_refuses_a_negative_step_count(steps):
    assert refusal(FullTrainConfig, data="sample:criteo", seeds=len(steps), steps=steps) == [
        (("steps", len(steps) - 1), "Input should be greater than or equal to 0")
    ]


def test_full_training_takes_zero_steps_only_from_inherited_weights():
    assert refusal(FullTrainConfig, data="sample:criteo", seeds=2, steps=[5, 0]) == [
        (
            (),
            "Value error, steps [5, 0]: 0 steps trains nothing and scores the untrained model "
            "(allowed only with inherit)",
        )
    ]
    assert FullTrainConfig(data="sample:criteo", inherit="ckpt.pt", steps=[0]).steps == [0]  # the supernet's view


def test_full_training_refuses_a_train_split_it_cannot_train_on():
    assert refusal(FullTrainConfig, data="sample:criteo", train_split="valid") == [
        (("train_split",), "Input should be 'train' or 'train+valid'")
    ]
    assert FullTrainConfig(data="sample:criteo", train_split="train+valid").train_split == "train+valid"


def test_full_training_refuses_an_eval_batch_size_of_zero():
    assert refusal(FullTrainConfig, data="sample:criteo", eval_batch_size=0) == [
        (("eval_batch_size",), "Input should be greater than 0")
    ]


@pytest.mark.parametrize("split", ["train", "bogus"])
def test_full_training_scores_on_valid_or_test_only(split):
    """Scoring on the training rows would rank by overfitting; a typo failed only after set-up."""
    assert refusal(FullTrainConfig, data="sample:criteo", eval_split=split) == [
        (("eval_split",), "Input should be 'valid' or 'test'")
    ]
