"""The ranking study's ablations (benchmarks/rank_ablations.py): which supernets each trains and how it scores them."""

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from rank_ablations import (
    ABLATIONS,
    centering_ablation,
    hot_centering_ablation,
    paper_steps_ablation,
    scale_ablation,
    standardised_ablation,
    supernet_seeds_ablation,
    untrained_ablation,
)

from nasrec.evaluators.rank_study_config import RankStudyConfig
from nasrec.evaluators.training import Trainer


def test_centering_ablation_pairs_raw_and_centred_logits_over_two_seeds():
    config = RankStudyConfig(supernets=centering_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {(c.center_logits, c.train.seed, c.sampler) for c in trained.values()} == {
        (center, seed, "any-path") for center in (False, True) for seed in (0, 1)
    }
    assert all(v.finetune == ("none", "bias", "fast") for v in config.supernets.values())
    assert all(c.train.epochs == 1.0 for c in trained.values())


def test_untrained_ablation_trains_one_step_at_a_thousandth_of_the_learning_rate():
    config = RankStudyConfig(supernets=untrained_ablation())
    for label in config.supernets:
        recipe = config.supernet_config(label).train
        assert Trainer.total_steps(SimpleNamespace(config=recipe), steps_per_epoch=312) == 1  # type: ignore[arg-type]
        assert recipe.min_warmup_steps == 1000  # the first step's lr: 0.12 / 1,000
    assert config.supernet_config("any-path-1step-seed1").train.seed == 1
    assert "paper" in config.supernets["any-path-1step"].finetune


def test_hot_centering_ablation_trains_centred_supernets_at_a_warm_up_floor_of_100_for_1_and_4_epochs():
    config = RankStudyConfig(supernets=hot_centering_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {label: (c.train.epochs, c.train.min_warmup_steps) for label, c in trained.items()} == {
        "any-path-centered-hot": (1.0, 100),
        "any-path-centered-hot-4ep": (4.0, 100),
    }
    assert all(c.center_logits and c.sampler == "any-path" and c.train.lr == 0.12 for c in trained.values())
    assert config.supernets["any-path-centered-hot"].finetune == ("none", "bias", "fast", "paper")


def test_scale_ablation_scores_bias_scale_and_fast_on_the_default_and_the_hot_centred_supernet():
    config = RankStudyConfig(supernets=scale_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {label: (c.center_logits, c.train.min_warmup_steps) for label, c in trained.items()} == {
        "any-path": (False, 1000),
        "any-path-centered-hot": (True, 100),
    }
    assert all(c.sampler == "any-path" and c.train.epochs == 1.0 for c in trained.values())
    proxies = config.proxies("any-path", Path("ckpt.pt"))
    assert proxies["any-path/scale"] == ("finetune", {**proxies["any-path/bias"][1], "recipe": "scale"})


def test_standardised_ablation_scores_the_raw_and_the_standardised_head_fit_on_four_supernets():
    config = RankStudyConfig(supernets=standardised_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {label: (c.sampler, c.train.min_warmup_steps) for label, c in trained.items()} == {
        "any-connection": ("single-operator-any-connection", 1000),
        "any-path": ("any-path", 1000),
        "any-connection-floor300": ("single-operator-any-connection", 300),
        "any-path-1step": ("any-path", 1000),
    }
    assert Trainer.total_steps(SimpleNamespace(config=trained["any-path-1step"].train), steps_per_epoch=312) == 1  # type: ignore[arg-type]
    assert all(v.finetune == ("fast", "fast-std") for v in config.supernets.values())
    proxies = config.proxies("any-path", Path("ckpt.pt"))
    assert proxies["any-path/fast-std"] == ("finetune", {**proxies["any-path/fast"][1], "recipe": "fast-std"})


def test_supernet_seeds_ablation_trains_three_kinds_of_supernet_with_three_seeds_each():
    config = RankStudyConfig(supernets=supernet_seeds_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {label: (c.sampler, c.train.seed) for label, c in trained.items()} == {
        f"{kind}{f'-seed{seed}' if seed else ''}": (sampler, seed)
        for kind, sampler in (
            ("any-connection", "single-operator-any-connection"),
            ("any-path", "any-path"),
            ("any-path-1step", "any-path"),
        )
        for seed in (0, 1, 2)
    }
    for label, c in trained.items():
        steps = Trainer.total_steps(SimpleNamespace(config=c.train), steps_per_epoch=312)  # type: ignore[arg-type]
        assert steps == (1 if label.startswith("any-path-1step") else 312), label
    assert all(v.finetune == ("fast-std",) for v in config.supernets.values())
    with_paper = RankStudyConfig(supernets=supernet_seeds_ablation(1.0, ("fast-std", "paper")))
    assert with_paper.supernets.keys() == config.supernets.keys()
    assert all(v.finetune == ("fast-std", "paper") for v in with_paper.supernets.values())


def test_untrained_seeds_ablation_extends_the_supernet_seeds_untrained_kind_to_six_seeds():
    config = RankStudyConfig(supernets=ABLATIONS["untrained-seeds"](SimpleNamespace(supernet_epochs=1.0)))
    assert list(config.supernets) == ["any-path-1step"] + [f"any-path-1step-seed{s}" for s in range(1, 6)]
    three = RankStudyConfig(supernets=supernet_seeds_ablation(1.0))
    for label in ("any-path-1step", "any-path-1step-seed1", "any-path-1step-seed2"):  # the same supernets
        assert config.supernet_config(label) == three.supernet_config(label)
    assert [config.supernet_config(label).train.seed for label in config.supernets] == [0, 1, 2, 3, 4, 5]
    assert all(v.finetune == ("fast-std",) for v in config.supernets.values())


def test_paper_steps_ablation_scores_the_paper_recipe_with_all_its_steps_beside_fast_std():
    config = RankStudyConfig(supernets=paper_steps_ablation(1.0))
    trained = {label: config.supernet_config(label) for label in config.supernets}
    assert {label: c.sampler for label, c in trained.items()} == {
        "any-connection": "single-operator-any-connection",
        "single-path": "single-path",
        "any-path": "any-path",
        "any-path-1step": "any-path",
    }
    assert trained["any-path-1step"].train.epochs == 1e-9 and trained["any-path"].train.epochs == 1.0
    assert all(v.finetune == ("fast-std", "paper") for v in config.supernets.values())
    paper = config.proxies("any-path", Path("ckpt.pt"))["any-path/paper"][1]
    assert (paper["recipe"], paper["steps"], paper["max_passes"]) == ("paper", 500, None)
    one_pass = RankStudyConfig(supernets=paper_steps_ablation(1.0), paper_max_passes=1)
    assert one_pass.proxies("any-path", Path("ckpt.pt"))["any-path/paper"][1]["max_passes"] == 1
