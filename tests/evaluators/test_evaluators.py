import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nasrec.data import PreparedData
from nasrec.data.synthetic import make_synthetic
from nasrec.errors import UsageError
from nasrec.evaluators import (
    FinetunedProxy,
    FullTrain,
    SupernetProxy,
    SupernetTrainingConfig,
    TrainConfig,
    build_evaluator,
    load_supernet,
    train_supernet,
)
from nasrec.evaluators.base import derive_seed
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.full_train import calmer
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.scoring import subset_batches
from nasrec.evaluators.supernet_training import PathSampler
from nasrec.evaluators.training import evaluate
from nasrec.genotype import sample
from tests.spaces import TINY

CANDIDATES = [sample(TINY, "single-operator-any-connection", i) for i in range(5)]


def test_supernet_training_lowers_validation_loss_on_real_rows(trained_supernet):
    ckpt, config = trained_supernet
    trained = load_supernet(ckpt)
    torch.manual_seed(config.train.seed)
    untrained = config.build_supernet().eval()
    valid = subset_batches(open_data("sample:criteo"), "valid", None, 4096)
    before = np.mean([evaluate(untrained.view(g), valid).log_loss for g in CANDIDATES])
    after = np.mean([evaluate(trained.view(g), valid).log_loss for g in CANDIDATES])
    assert before > 0.65  # untrained: logits near 0, log loss near ln 2
    assert after < 0.6 and after < before - 0.08, (before, after)


def test_a_folder_that_is_no_supernet_folder_is_one_error_naming_the_file(trained_supernet, tmp_path):
    ckpt, _ = trained_supernet
    run = tmp_path / "run"  # a search's config.json beside a checkpoint
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {"data": "sample:criteo"}}))
    shutil.copy(ckpt, run / "checkpoint.pt")
    with pytest.raises(
        UsageError, match=r"^supernet .*run/checkpoint\.pt: .*run/config\.json is not a train-supernet "
    ):
        load_supernet(run / "checkpoint.pt")
    weights = tmp_path / "weights"  # a supernet's config.json beside a checkpoint without its model
    weights.mkdir()
    shutil.copy(Path(ckpt).parent / "config.json", weights / "config.json")
    torch.save({"step": 3}, weights / "checkpoint.pt")
    with pytest.raises(UsageError, match=r"^supernet .*: not the checkpoint of the supernet .* \(it holds no model"):
        load_supernet(weights / "checkpoint.pt")


def test_killed_and_resumed_supernet_training_ends_with_the_same_weights(tmp_path, tiny_space_file, train_steps):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, train=TrainConfig(epochs=0.5, checkpoint_every=3)
    )
    whole = train_supernet(config, tmp_path / "whole")
    assert train_steps.take() == round(0.5 * (11_960 // 512))  # 12 steps
    train_supernet(config, tmp_path / "cut", stop_after=7)  # the checkpoint a killed run leaves (atomic)
    assert train_steps.take() == 7
    resumed = train_supernet(config, tmp_path / "cut")
    assert train_steps.take() == 5  # resumed at step 7, not trained again from step 0
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_path_sampler_warms_up_with_the_full_supernet_then_samples_paths():
    s = PathSampler(TINY, "single-operator-any-connection", total_steps=100, warmup_fraction=0.2, mode="whole", seed=0)
    assert s.full_probability(0) == 1.0 and s.full_probability(10) == 0.5 and s.full_probability(20) == 0.0
    assert all(len(b.dense.ops) == 4 for b in s(0).blocks)  # p = 1 at step 0: the full supernet
    later = [s(step) for step in range(20, 60)]
    assert all(len(b.dense.ops) == 1 for g in later for b in g.blocks)
    # a function of (seed, step) only: a new sampler (a resumed run's) draws the same paths; another seed others
    again = PathSampler(
        TINY, "single-operator-any-connection", total_steps=100, warmup_fraction=0.2, mode="whole", seed=0
    )
    other = PathSampler(
        TINY, "single-operator-any-connection", total_steps=100, warmup_fraction=0.2, mode="whole", seed=1
    )
    assert [again(step) for step in range(20, 60)] == later and s(33) == s(33)
    assert sum(other(step) != g for step, g in zip(range(20, 60), later, strict=True)) > 20
    per_block = PathSampler(TINY, "single-operator-any-connection", 100, 0.2, "per-block", 0)
    mixed = [len({len(b.dense.ops) for b in per_block(step).blocks}) for step in range(5, 15)]
    assert max(mixed) == 2  # some steps mix full and sampled blocks


@pytest.mark.parametrize(
    "make",
    [
        lambda ckpt: SupernetProxy(data="sample:criteo", supernet=ckpt),
        lambda ckpt: FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="fast", train_rows=2048),
        lambda ckpt: FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="fast-std", train_rows=2048),
        lambda ckpt: FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", steps=6),
        lambda ckpt: FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="bias", train_rows=2048),
        lambda ckpt: FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="scale", train_rows=2048),
    ],
    ids=["supernet", "finetune-fast", "finetune-fast-std", "finetune-paper", "finetune-bias", "finetune-scale"],
)
def test_scoring_several_candidates_in_one_pass_equals_one_by_one(trained_supernet, make):
    ckpt, _ = trained_supernet
    evaluator = make(ckpt)
    together = evaluator.evaluate(CANDIDATES)
    alone = [evaluator.evaluate([g])[0] for g in CANDIDATES]
    for a, b in zip(together, alone, strict=True):
        assert a.log_loss == pytest.approx(b.log_loss, abs=1e-6) and a.auc == pytest.approx(b.auc, abs=1e-6)
    assert len({round(s.log_loss, 6) for s in together}) == len(CANDIDATES)  # candidates really differ
    assert all(s.examples == 1495 and s.flops > 0 and s.params > 0 for s in together)


def test_fine_tuning_the_head_does_not_lose_to_the_inherited_head(trained_supernet):
    ckpt, _ = trained_supernet
    raw = SupernetProxy(data="sample:criteo", supernet=ckpt).evaluate(CANDIDATES)
    tuned = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="fast").evaluate(CANDIDATES)
    assert np.mean([t.log_loss for t in tuned]) < np.mean([r.log_loss for r in raw])


def test_standardised_fit_weighs_every_input_alike_whatever_its_scale(trained_supernet):
    ckpt, _ = trained_supernet
    raw, std = (FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe=r) for r in ("fast", "fast-std"))
    gen = torch.Generator().manual_seed(0)
    # four informative inputs at scales 1, 10, 100 and 0.01, and a constant one
    x = torch.randn(4000, 5, generator=gen) * torch.tensor([1.0, 10.0, 100.0, 0.01, 0.0]) + torch.tensor(
        [0.0, 5.0, -3.0, 0.0, 2.0]
    )
    true_w = torch.tensor([1.0, 0.1, -0.01, 50.0, 0.0])
    y = (torch.rand(4000, generator=gen) < torch.sigmoid(x @ true_w)).float()
    w0, b0 = torch.zeros(1, 5), torch.zeros(1)
    (w_raw, b_raw), (w_std, b_std) = raw._fit(x, y, w0, b0), std._fit_standardised(x, y, w0, b0)
    # the penalty on raw weights keeps the small-scale input's weight near zero; on standardised ones it doesn't
    assert abs(w_raw[0, 3].item()) < 0.1 and w_std[0, 3].item() > 10
    assert w_std[0, 4].item() == 0  # a constant input (std 0) is left unscaled: no NaN, its weight stays put
    # the head is returned on the raw inputs: its logits are the standardised fit's
    mean, sd = x.mean(0), x.std(0)
    sd[4] = 1.0
    ws, bs = raw._fit((x - mean) / sd, y, w0 * sd, b0 + (w0 * mean).sum())
    assert torch.allclose(x @ w_std[0] + b_std, (x - mean) / sd @ ws[0] + bs, atol=1e-4)
    # rescaling the inputs leaves the standardised fit's logits as they were, and moves the raw fit's
    rescaled = x * torch.tensor([3.0, 0.1, 7.0, 100.0, 1.0])
    (w_std2, b_std2), (w_raw2, b_raw2) = std._fit_standardised(rescaled, y, w0, b0), raw._fit(rescaled, y, w0, b0)
    assert torch.allclose(rescaled @ w_std2[0] + b_std2, x @ w_std[0] + b_std, atol=1e-3)
    assert (rescaled @ w_raw2[0] + b_raw2 - (x @ w_raw[0] + b_raw)).abs().max() > 0.5


def test_bias_recalibration_keeps_the_inherited_weights_and_fits_the_training_click_rate(trained_supernet):
    ckpt, _ = trained_supernet
    proxy = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="bias", train_rows=2048)
    views = [proxy.supernet.view(g) for g in CANDIDATES]
    heads = proxy._heads(views, CANDIDATES)
    feats = proxy._head_inputs(views, proxy.train_batches)
    y = torch.cat([b.label for b in proxy.train_batches])
    for view, (w, b), x in zip(views, heads, feats, strict=True):
        inherited_w, inherited_b = view.head_weights()
        assert torch.equal(w, inherited_w) and not torch.equal(b, inherited_b)
        p = torch.sigmoid(torch.nn.functional.linear(x, w, b).squeeze(-1))
        assert p.mean().item() == pytest.approx(y.float().mean().item(), abs=1e-4)  # the optimum's condition
    # the inherited offset shifted by 3: recalibration removes the shift, the inherited head pays for it
    with torch.no_grad():
        proxy.supernet.head.head_b.add_(3.0)
    shifted = SupernetProxy(data="sample:criteo", supernet=ckpt)
    shifted.__dict__["supernet"] = proxy.supernet
    again = proxy._heads(views, CANDIDATES)
    for (_, b), (_, b2) in zip(heads, again, strict=True):
        assert b2.item() == pytest.approx(b.item(), abs=1e-3)
    raw = shifted.evaluate(CANDIDATES)
    recalibrated = proxy.evaluate(CANDIDATES)
    assert all(r.log_loss < s.log_loss - 0.3 for r, s in zip(recalibrated, raw, strict=True))


def test_scale_recalibration_fits_the_inherited_logits_scale_and_bias(trained_supernet):
    ckpt, _ = trained_supernet
    proxy = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="scale", train_rows=2048)
    views = [proxy.supernet.view(g) for g in CANDIDATES]
    feats = proxy._head_inputs(views, proxy.train_batches)
    y = torch.cat([b.label for b in proxy.train_batches]).float()
    heads = proxy._heads(views, CANDIDATES)
    bias = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="bias", train_rows=2048)
    for view, (w, b), (bw, bb), x in zip(views, heads, bias._heads(views, CANDIDATES), feats, strict=True):
        inherited_w, _ = view.head_weights()
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        fit_loss = bce(torch.nn.functional.linear(x, w, b).squeeze(-1), y).item()
        assert fit_loss <= bce(torch.nn.functional.linear(x, bw, bb).squeeze(-1), y).item() + 1e-6  # two > one
        a = (w / inherited_w).flatten()
        assert torch.allclose(a, a[0].expand_as(a), rtol=1e-5)  # one scale for the whole head
        z = torch.nn.functional.linear(x, inherited_w).squeeze(-1)
        residual = torch.sigmoid(torch.nn.functional.linear(x, w, b).squeeze(-1)) - y
        # the optimum's two conditions: mean residual 0 (bias) and residual uncorrelated with z (scale)
        assert residual.mean().item() == pytest.approx(0, abs=1e-4)
        assert (residual * z).mean().item() == pytest.approx(0, abs=1e-4 * z.abs().mean().item())
    fitted = [proxy.evaluate(CANDIDATES), bias.evaluate(CANDIDATES)]
    # the inherited head made 5x over-confident and shifted: `scale` undoes both, `bias` only the shift
    with torch.no_grad():
        for p in (proxy, bias):
            p.supernet.head.head_w.mul_(5.0)
            p.supernet.head.head_b.add_(2.0)
    scaled, shifted = proxy.evaluate(CANDIDATES), bias.evaluate(CANDIDATES)
    for before, after in zip(fitted[0], scaled, strict=True):
        assert after.log_loss == pytest.approx(before.log_loss, abs=1e-4)
    assert np.mean([s.log_loss for s in shifted]) > np.mean([s.log_loss for s in fitted[1]])


def test_supernet_trained_on_centred_logits_keeps_the_heads_bias_at_the_base_rate(tmp_path, tiny_space_file):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, center_logits=True, train=TrainConfig(epochs=0.5)
    )
    untrained = config.build_supernet().state_dict()  # the same seed: the weights training starts from
    trained = train_supernet(config, tmp_path / "centred")
    rate = open_data("sample:criteo").split("train").positive_rate
    assert trained.head.head_b.item() == pytest.approx(math.log(rate / (1 - rate)), abs=1e-6)  # no gradient
    assert trained.head.head_w.abs().sum() > 0  # started at zero (head at the base rate), then trained
    moved = [name for name, p in trained.state_dict().items() if not torch.equal(p, untrained[name])]
    assert len(moved) > len(untrained) // 2  # the body trains too
    plain = train_supernet(config.model_copy(update={"center_logits": False}), tmp_path / "plain")
    assert plain.head.head_b.item() != pytest.approx(trained.head.head_b.item(), abs=1e-3)


def test_evaluators_rebuild_from_their_recorded_config(trained_supernet):
    ckpt, _ = trained_supernet
    first = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="fast", train_rows=1024)
    (score,) = first.evaluate(CANDIDATES[:1])
    config = json.loads(json.dumps(score.config))  # JSON round trip, as across processes
    (again,) = build_evaluator(score.evaluator, config).evaluate(CANDIDATES[:1])
    assert again.log_loss == score.log_loss


def test_a_seed_the_guard_stops_is_retried_with_a_calmer_recipe(monkeypatch):
    recipes = []
    real = FullTrain._train

    def train(self, genotype, seed, split, steps, recipe, retry=0):
        recipes.append((recipe.lr, recipe.min_warmup_steps))
        if recipe.lr == 0.12:  # the first attempt: as if the guard had stopped it
            raise TrainingDiverged("train x: loss 9 at step 20 is more than 3x the running median")
        return real(self, genotype, seed, split, steps, recipe, retry)

    monkeypatch.setattr(FullTrain, "_train", train)
    recipe = TrainConfig(epochs=1, min_warmup_steps=10)
    score = FullTrain(data="sample:criteo", cap=5000, train=recipe).evaluate([CANDIDATES[0]])[0]
    assert recipes == [(0.12, 10), (0.04, 20)] and score.runs[0].retries == 1
    assert score.log_loss == score.runs[0].log_loss < 0.6
    recipes.clear()
    with pytest.raises(TrainingDiverged, match="at step 20"):
        FullTrain(data="sample:criteo", cap=5000, train=recipe, retries=0).evaluate([CANDIDATES[0]])
    assert recipes == [(0.12, 10)]
    assert calmer(recipe, 2).lr == pytest.approx(0.12 / 9) and calmer(recipe, 2).min_warmup_steps == 40


def test_a_seed_whose_every_try_diverged_names_the_genotype_seed_tries_and_the_users_recipe(monkeypatch):
    from nasrec.evaluators.guard import DivergenceGuard

    recipes = []

    def train(self, genotype, seed, split, steps, recipe, retry=0):  # every try: the guard stops it at its 4th step
        recipes.append(recipe.lr)
        guard = DivergenceGuard(f"train {genotype.digest()}", factor=3.0, patience=2, hint=recipe.hint())
        for step, loss in enumerate([0.6, 0.6, 5.0, 6.0], start=1):
            guard.check(step, loss)

    monkeypatch.setattr(FullTrain, "_train", train)
    g, recipe = CANDIDATES[0], TrainConfig(epochs=1, min_warmup_steps=10)
    seed = derive_seed(0, g.digest())
    with pytest.raises(TrainingDiverged) as info:
        FullTrain(data="sample:criteo", cap=5000, train=recipe).evaluate([g])
    assert recipes == pytest.approx([0.12, 0.04, 0.12 / 9])
    assert str(info.value) == (
        f"genotype {g.digest()}, seed {seed}: training diverged in all 3 tries (lr 0.12, min_warmup_steps 10, "
        "then calmer reruns down to lr 0.0133333, min_warmup_steps 40); the last: loss 6 at step 4 is more than 3x "
        "the running median (0.6) for 2 steps in a row; lower lr (now 0.12) or raise min_warmup_steps (now 10)"
    )
    assert (info.value.step, info.value.loss) == (4, 6.0)
    with pytest.raises(TrainingDiverged) as info:
        FullTrain(data="sample:criteo", cap=5000, train=recipe, retries=0).evaluate([g])
    assert str(info.value) == (
        f"genotype {g.digest()}, seed {seed}: training diverged at lr 0.12, min_warmup_steps 10 (retries 0): "
        "loss 6 at step 4 is more than 3x the running median (0.6) for 2 steps in a row; "
        "lower lr (now 0.12) or raise min_warmup_steps (now 10)"
    )


def test_a_seed_that_learned_nothing_at_its_full_lr_is_retried_and_the_best_try_kept(monkeypatch):
    tries = []
    real = FullTrain._train

    def train(self, genotype, seed, split, steps, recipe, retry=0):
        model, trainer = real(self, genotype, seed, split, steps, recipe, retry)
        tries.append((recipe.lr, min(p.log_loss for p in trainer.curve), trainer.reached_peak_lr))
        return model, trainer

    monkeypatch.setattr(FullTrain, "_train", train)
    recipe = TrainConfig(epochs=2, min_warmup_steps=10, patience=2)  # 46 steps: the peak lr is reached
    full = FullTrain(data="sample:criteo", cap=5000, train=recipe)
    assert full.constant_valid_log_loss == pytest.approx(0.53859, abs=1e-5)  # the base rate on valid
    (learned,) = full.evaluate([CANDIDATES[0]])
    assert len(tries) == 1 and learned.runs[0].retries == 0 and learned.runs[0].retried_for == []
    assert tries[0][1] < 0.99 * full.constant_valid_log_loss

    tries.clear()  # a bar no run can clear: every try "learned nothing"; three tries, the best validation kept
    # (CANDIDATES[3]: its second try, at lr 0.04, validates best)
    (score,) = FullTrain(data="sample:criteo", cap=5000, train=recipe, min_gain=0.9).evaluate([CANDIDATES[3]])
    assert [lr for lr, _, _ in tries] == pytest.approx([0.12, 0.04, 0.04 / 3])
    best = min(range(3), key=lambda i: tries[i][1])
    run = score.runs[0]
    assert run.retries == best and run.retried_for == ["learned nothing"] * best
    assert min(p.log_loss for p in run.curve) == tries[best][1]

    tries.clear()  # the second try (warm-up floor 60 of 46 steps) ends inside its warm-up: no third try
    floor30 = recipe.model_copy(update={"min_warmup_steps": 30})
    (score,) = FullTrain(data="sample:criteo", cap=5000, train=floor30, min_gain=0.9).evaluate([CANDIDATES[2]])
    assert [(lr, peak) for lr, _, peak in tries] == [(0.12, True), (pytest.approx(0.04), False)]
    best = min(range(2), key=lambda i: tries[i][1])
    assert best == 0  # CANDIDATES[2] validates best at lr 0.12: kept although a later try ran
    assert score.runs[0].retries == best and min(p.log_loss for p in score.runs[0].curve) == tries[best][1]

    tries.clear()  # a run that ends inside its warm-up is not retried: a calmer recipe learns even less
    short = recipe.model_copy(update={"min_warmup_steps": 100})
    (score,) = FullTrain(data="sample:criteo", cap=5000, train=short, min_gain=0.9).evaluate([CANDIDATES[0]])
    assert [peak for _, _, peak in tries] == [False] and score.runs[0].retries == 0


def test_full_training_is_seeded_by_the_genotype_and_learns():
    full = FullTrain(data="sample:criteo", cap=5000, train=TrainConfig(epochs=2, min_warmup_steps=0))
    g = CANDIDATES[0]
    a, b = full.evaluate([g])[0], full.evaluate([g])[0]
    assert a.log_loss == b.log_loss and a.examples == 1495
    assert a.log_loss < 0.535 and a.auc > 0.6  # beats the base rate on held-out real rows
    assert a.evaluator == "full" and a.config["train"]["epochs"] == 2 and len(a.runs) == 1
    assert a.runs[0].seed == derive_seed(0, g.digest())  # the recipe's seed and the genotype's digest
    other = CANDIDATES[1]  # another genotype trains with another seed (1 step: only the seed is looked at)
    (o,) = FullTrain(data="sample:criteo", cap=5000, steps=[1]).evaluate([other])
    assert o.runs[0].seed == derive_seed(0, other.digest()) != a.runs[0].seed


def test_full_training_from_inherited_weights_starts_at_the_supernet_view(trained_supernet):
    """`inherit`: step 0 of the fine-tuning is the supernet's view of the genotype (its score is the
    `supernet` proxy's, head included); training then moves it; cap and layernorm are the supernet's."""
    ckpt, _ = trained_supernet
    views = SupernetProxy(data="sample:criteo", supernet=ckpt).evaluate(CANDIDATES[:2])
    start = FullTrain(data="sample:criteo", inherit=ckpt, steps=[0]).evaluate(CANDIDATES[:2])
    for view, s in zip(views, start, strict=True):
        assert s.log_loss == pytest.approx(view.log_loss, abs=1e-6) and s.runs[0].steps == 0
    tuned = FullTrain(data="sample:criteo", inherit=ckpt, train=TrainConfig(epochs=1, lr=0.03)).evaluate(CANDIDATES[:2])
    assert all(t.runs[0].steps == 23 and t.log_loss != s.log_loss for t, s in zip(tuned, start, strict=True))
    with pytest.raises(ValueError, match="cap and layernorm are the supernet's when inherit is set"):
        FullTrain(data="sample:criteo", inherit=ckpt, cap=5000)
    with pytest.raises(UsageError, match="trained on other features than sample:avazu's"):
        FullTrain(data="sample:avazu", inherit=ckpt).evaluate(CANDIDATES[:1])


def test_a_score_counts_the_parameters_of_the_model_it_trained_with_or_without_layernorm():
    from nasrec.compiler.cost import cost
    from nasrec.data import load_sample
    from nasrec.evaluators import FullTrain, TrainConfig
    from nasrec.genotype.zoo import load_zoo

    g, spec = load_zoo("dlrm"), load_sample("criteo").spec
    recipe = TrainConfig(epochs=0.05, min_warmup_steps=0)
    with_ln, without = (FullTrain(data="sample:criteo", layernorm=ln, train=recipe).evaluate([g])[0] for ln in (1, 0))
    assert with_ln.params == cost(g, spec).dense_params
    assert without.params == cost(g, spec, layernorm=False).dense_params < with_ln.params


def test_proxy_and_inherited_scores_count_the_model_as_the_supernet_builds_it(tmp_path, tiny_space_file):
    from nasrec.compiler.cost import cost
    from nasrec.evaluators import FullTrain, SupernetTrainingConfig, TrainConfig, build_evaluator, train_supernet
    from nasrec.genotype import sample

    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, layernorm=False, train=TrainConfig(epochs=0.05)
    )
    train_supernet(config, tmp_path)
    g, ckpt = sample(tiny_space_file, rng=1), str(tmp_path / "checkpoint.pt")
    spec = build_evaluator("finetune", {"data": "sample:criteo", "supernet": ckpt}).data.spec
    proxy = build_evaluator("finetune", {"data": "sample:criteo", "supernet": ckpt}).evaluate([g])[0]
    inherited = FullTrain(data="sample:criteo", inherit=ckpt, train=TrainConfig(epochs=0.05)).evaluate([g])[0]
    assert proxy.params == inherited.params == cost(g, spec, layernorm=False).dense_params
    assert proxy.params < cost(g, spec).dense_params


def test_the_paper_recipe_runs_its_steps_over_as_many_passes_as_they_need(trained_supernet):
    ckpt, _ = trained_supernet
    proxy = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper")  # 500 steps of 512 rows
    sizes = [len(batch.label) for batch in proxy.train_batches]  # every training row: 11,960
    assert len(sizes) == 24 and sum(sizes) == len(proxy.data.split("train")) == 11_960 and sizes[-1] == 184
    schedule = proxy.paper_schedule
    assert proxy.paper_passes == 22 and len(schedule) == 500 and {len(rows) for rows in schedule} == {512}
    stream = torch.cat(schedule)
    passes = [stream[k * 11_960 : (k + 1) * 11_960] for k in range(21)]
    assert all(torch.equal(p.sort().values, torch.arange(11_960)) for p in passes)  # each pass: every row once
    assert len({tuple(p[:8].tolist()) for p in passes}) == 21  # each in its own order
    other_seed = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", seed=1).paper_schedule
    assert not any(torch.equal(torch.cat(other_seed)[:11_960], p) for p in passes)  # no order shared across seeds
    one_pass = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", max_passes=1)
    assert one_pass.paper_passes == 1 and [len(rows) for rows in one_pass.paper_schedule] == sizes
    assert torch.equal(torch.cat(one_pass.paper_schedule), torch.arange(11_960))  # the batches as they are
    two = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", max_passes=2).paper_schedule
    assert len(two) == 47 and len(two[-1]) == 2 * 11_960 - 46 * 512  # two passes: 46 steps and a short one
    assert len(FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", steps=6).paper_schedule) == 6


@pytest.mark.parametrize("cache", [True, False], ids=["cached-head-inputs", "through-the-body"])
def test_the_paper_recipe_over_several_passes_runs_its_steps_on_the_rows_of_its_schedule(
    trained_supernet, monkeypatch, cache
):
    from nasrec.evaluators import proxy as proxy_module

    if not cache:  # over the budget: each step's rows through the body again
        monkeypatch.setattr(proxy_module, "PAPER_CACHE_BYTES", 0)
    ckpt, _ = trained_supernet
    proxy = FinetunedProxy(data="sample:criteo", supernet=ckpt, recipe="paper", steps=30)  # 24 + 6 steps
    views = [proxy.supernet.view(g) for g in CANDIDATES[:2]]
    assert proxy.paper_passes == 2 and (proxy._cached_inputs(views[0]) is not None) == cache
    init = [(w.detach().clone(), b.detach().clone()) for w, b in (v.head_weights() for v in views)]
    got = proxy._paper(views, init)
    rows = torch.cat([b.label for b in proxy.train_batches])
    dense, sparse = (torch.cat([getattr(b, f) for b in proxy.train_batches]) for f in ("dense", "sparse"))
    for view, (w, b), (gw, gb) in zip(views, (v.head_weights() for v in views), got, strict=True):
        w, b = w.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
        opt = torch.optim.Adagrad([w, b], lr=proxy.cfg.lr)
        for step in proxy.paper_schedule:  # every step's rows through the body, as a single pass runs them
            with torch.no_grad():
                x = view.head_inputs(proxy.supernet.embed(dense[step], sparse[step]))
            opt.zero_grad()
            logits = torch.nn.functional.linear(x, w, b).squeeze(-1)
            torch.nn.functional.binary_cross_entropy_with_logits(logits, rows[step]).backward()
            opt.step()
        assert torch.allclose(gw, w.detach(), atol=1e-5) and torch.allclose(gb, b.detach(), atol=1e-5)
        assert not torch.allclose(gw, view.head_weights()[0], atol=1e-3)  # the head did move


def test_the_paper_recipe_refuses_an_empty_step():
    with pytest.raises(ValueError, match="step_batch\n  Input should be greater than 0"):
        FinetunedProxy.Config(data="sample:criteo", supernet="x.pt", recipe="paper", step_batch=0)


def test_earlier_tries_models_are_freed_before_the_next_try(monkeypatch):
    # a try that learned nothing was kept as its exception, whose traceback held that try's model and
    # optimizer: three tries of a large model held three models at once
    import gc
    import weakref

    alive_at_start = []
    models: list[weakref.ref] = []
    real = FullTrain._model

    def model(self, genotype):
        gc.collect()
        alive_at_start.append(sum(r() is not None for r in models))
        m = real(self, genotype)
        models.append(weakref.ref(m))
        return m

    monkeypatch.setattr(FullTrain, "_model", model)
    recipe = TrainConfig(epochs=2, min_warmup_steps=10, patience=2)
    FullTrain(data="sample:criteo", cap=5000, train=recipe, min_gain=0.9).evaluate([CANDIDATES[3]])
    assert alive_at_start == [0, 0, 0]  # three tries, each started with no earlier model alive
    alive_at_start.clear()  # a final model: the early-stopped run that picks its steps is freed before it trains
    FullTrain(data="sample:criteo", cap=5000, train=recipe, train_split="train+valid").evaluate([CANDIDATES[0]])
    assert alive_at_start == [0, 0]


def test_the_datas_own_cap_bounds_every_table(tmp_path, tiny_space_file):
    # data prepared with --cap records it; scratch training (cap None) used full tables
    data = make_synthetic(600, cardinalities=[40, 3000, 9], seed=0)
    folder = PreparedData.from_arrays(data.dense, data.sparse, data.label, data.spec.with_cap(100)).save(tmp_path / "d")
    assert folder.spec.cap == 100
    g = sample(TINY, rng=0)
    capped, smaller = (
        FullTrain(data=str(tmp_path / "d"))._model(g),
        FullTrain(data=str(tmp_path / "d"), cap=20)._model(g),
    )
    assert capped.embedding.table.num_embeddings == 40 + 100 + 9  # one table of the fields' rows (uncapped: 3,049)
    assert smaller.embedding.table.num_embeddings == 20 + 20 + 9  # the smaller cap wins
    # a supernet's cap replaces the data's, as it always did: its checkpoints are built with that cap
    supernet = SupernetTrainingConfig(data=str(tmp_path / "d"), space=tiny_space_file, cap=20).build_supernet()
    assert supernet.features.cap == 20 and supernet.features.table_rows == (20, 20, 9)


def test_inheriting_for_a_genotype_outside_the_supernets_space_names_the_genotype_and_the_supernet(tmp_path):
    from nasrec.genotype.zoo import load_zoo

    config = SupernetTrainingConfig(data="sample:criteo", space="nasrec-small", cap=100)
    torch.save({"model": config.build_supernet().state_dict()}, tmp_path / "checkpoint.pt")
    (tmp_path / "config.json").write_text(config.model_dump_json())
    ckpt, autoint = str(tmp_path / "checkpoint.pt"), load_zoo("autoint")
    nameless = autoint.model_copy(update={"meta": {}})
    space_error = "blocks[0].sparse.ops[0]: 'attention' is not in space 'nasrec-small' (efc)"
    for g, label in ((autoint, f"AutoInt-like ({autoint.digest()})"), (nameless, f"genotype {autoint.digest()}")):
        with pytest.raises(UsageError) as caught:
            FullTrain(data="sample:criteo", inherit=ckpt, steps=[0]).evaluate([g])
        assert str(caught.value) == f"{label}: not in the space of supernet {ckpt}: {space_error}"


def test_full_training_gives_each_training_a_progress_bar_when_asked(monkeypatch):
    """The pipeline's top-k and final stages pass their `progress`: hours of scratch training are not silent."""
    from nasrec.evaluators import full_train
    from nasrec.genotype.zoo import load_zoo

    seen = []
    real = full_train.Trainer

    def spy(*args, **kwargs):
        seen.append(kwargs.get("progress"))
        return real(*args, **kwargs)

    monkeypatch.setattr(full_train, "Trainer", spy)
    for progress in (True, False):
        full_train.FullTrain(data="sample:criteo", cap=1000, train={"epochs": 0.05}, progress=progress).evaluate(
            [load_zoo("dlrm")]
        )
    assert seen == [True, False]


@pytest.mark.parametrize("name", ["full", "supernet", "finetune", "params", "flops"])
def test_every_evaluator_refuses_one_genotype_passed_bare(trained_supernet, name):
    """A pydantic model iterates as its fields: a bare genotype failed later with "'tuple' object has no attribute
    'digest'"."""
    config = {"data": "sample:criteo"} | (
        {"supernet": str(trained_supernet[0])} if name in ("supernet", "finetune") else {}
    )
    evaluator = build_evaluator(name, config)
    with pytest.raises(TypeError) as err:
        evaluator.evaluate(CANDIDATES[0])
    assert str(err.value) == "evaluate takes a list of genotypes, got one Genotype: pass [genotype]"
    with pytest.raises(TypeError) as err:
        evaluator.evaluate([CANDIDATES[0].to_dict()])
    assert str(err.value) == "evaluate takes a list of genotypes, got a list holding dict"
