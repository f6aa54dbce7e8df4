"""The shared training loop on a tiny model (the compiler's models are tested in their own folder)."""

import math

import pytest
import torch
from torch import nn

from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint
from nasrec.evaluators.guard import DivergenceGuard, TrainingDiverged
from nasrec.evaluators.schedule import cosine_with_warmup, init_head
from nasrec.evaluators.training import TrainConfig, Trainer, evaluate


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 4, sparse=True)
        self.lin = nn.Linear(3 + 4, 1)

    def forward(self, dense, sparse):
        return self.lin(torch.cat([dense, self.emb(sparse[:, 0])], dim=1)).squeeze(1)


def make_batches(n_batches=8, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        dense = torch.randn(batch, 3, generator=g)
        sparse = torch.randint(0, 20, (batch, 1), generator=g)
        label = ((dense[:, 0] + (sparse[:, 0] % 2) * 1.5 - 0.7) > 0).float()
        out.append((dense, sparse, label))
    return out


def trained(config, steps=None, checkpoint=None, model=None, batches=None):
    torch.manual_seed(0)
    model = model or Tiny()
    batches = batches or make_batches()
    trainer = Trainer(model, config, checkpoint=checkpoint)
    trainer.fit(lambda epoch: iter(batches), steps_per_epoch=len(batches), stop_after=steps)
    return model, trainer


def test_loss_falls_and_metrics_are_sane():
    batches = make_batches()
    torch.manual_seed(0)
    model = Tiny()
    before = evaluate(model, batches)
    _, trainer = trained(TrainConfig(epochs=6, lr=0.1, min_warmup_steps=0), model=model, batches=batches)
    after = evaluate(model, batches)
    assert after.log_loss < before.log_loss - 0.1
    assert after.auc > 0.85 and after.examples == 256
    assert trainer.step == 48 and len(trainer.losses) == 48


def test_deterministic_on_cpu():
    a, _ = trained(TrainConfig(epochs=2))
    b, _ = trained(TrainConfig(epochs=2))
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path):
    config = TrainConfig(epochs=2, checkpoint_every=3)
    full, _ = trained(config)
    ckpt = tmp_path / "ckpt.pt"
    trained(config, steps=7, checkpoint=ckpt)  # "killed" after 7 of 16 steps
    assert load_checkpoint(ckpt)["step"] == 7
    resumed, trainer = trained(config, checkpoint=ckpt, model=None)
    assert trainer.step == 16 and len(trainer.losses) == 9
    for (name, pa), pb in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6), name


def test_fit_returns_the_losses_of_its_own_steps_as_a_new_list():
    batches = make_batches()
    torch.manual_seed(0)
    trainer = Trainer(Tiny(), TrainConfig(epochs=2))
    first = trainer.fit(lambda epoch: iter(batches), steps_per_epoch=len(batches), stop_after=10)
    second = trainer.fit(lambda epoch: iter(batches), steps_per_epoch=len(batches))
    assert (len(first), len(second), trainer.step) == (10, 6, 16)
    assert first + second == trainer.losses and first is not trainer.losses
    assert trainer.fit(lambda epoch: iter(batches), steps_per_epoch=len(batches)) == []  # nothing left to train


def test_a_damaged_checkpoint_of_a_training_says_how_to_start_it_again(tmp_path):
    config = TrainConfig(epochs=2, checkpoint_every=3)
    ckpt = tmp_path / "ckpt.pt"
    trained(config, steps=7, checkpoint=ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # cut by a full disk, say
    with pytest.raises(ValueError) as err:
        trained(config, checkpoint=ckpt)
    assert str(err.value) == (
        f"checkpoint {ckpt} cannot be read as weights: the file is truncated or corrupt; delete it to start this "
        "training again"
    )
    ckpt.unlink()
    assert trained(config, checkpoint=ckpt)[1].step == 16


def test_resume_refuses_a_checkpoint_of_another_recipe(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    trained(TrainConfig(epochs=1), steps=2, checkpoint=ckpt)
    with pytest.raises(ValueError, match=r"was written with another recipe"):
        trained(TrainConfig(epochs=1, lr=0.5), checkpoint=ckpt)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    batches = make_batches()
    batches[5] = (torch.full_like(batches[5][0], float("nan")), batches[5][1], batches[5][2])
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDiverged) as info:
        trained(TrainConfig(epochs=1, checkpoint_every=2, checkpoint_seconds=0), checkpoint=ckpt, batches=batches)
    assert str(info.value) == (
        f"train: loss is nan at step 6; training stopped (last good checkpoint: {ckpt}); "
        "lower lr (now 0.12) or raise min_warmup_steps (now 100)"
    )
    state = load_checkpoint(ckpt)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_cosine_schedule_with_warmup():
    f = cosine_with_warmup(100, 0.1, 0)
    assert [round(f(s), 3) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5) and f(100) == pytest.approx(0.0)
    assert f(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))


def test_checkpoints_load_without_pickle(tmp_path):
    path = save_checkpoint({"w": torch.ones(2), "step": 3}, tmp_path / "c.pt")
    assert load_checkpoint(path)["step"] == 3
    (tmp_path / "evil.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"evil.pt cannot be read as weights"):
        load_checkpoint(tmp_path / "evil.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "evil.pt"]


def test_warmup_floor_counts_steps_and_reduces_to_the_fraction_on_long_runs():
    short = cosine_with_warmup(22, 0.1, 100)  # a run shorter than the floor stays in warm-up
    assert [round(short(s), 4) for s in (0, 10, 21)] == [0.01, 0.11, 0.22]
    long = cosine_with_warmup(70_000, 0.1, 100)  # the paper's scale: 10 % of the steps, the floor is moot
    assert long(6_999) == pytest.approx(1.0) and long(699) == pytest.approx(0.1)
    assert cosine_with_warmup(70_000, 0.1, 0)(3_000) == long(3_000)


def test_guard_counts_spikes_and_reports_the_first_and_the_worst():
    guard = DivergenceGuard("train", factor=3.0, patience=5)
    losses = [0.7, 0.6, 0.55, 2.5, 0.5, 0.5, 9.0, 0.5]
    flagged = [guard.check(step, loss) for step, loss in enumerate(losses, start=1)]
    assert flagged == [False, False, False, True, False, False, True, False]
    assert (guard.report.count, guard.report.first_step, guard.report.worst_loss) == (2, 4, 9.0)
    assert str(guard.report) == "2 diverged steps (first at step 4, worst loss 9)"


def test_guard_stops_a_run_that_keeps_diverging_naming_the_step_and_the_setting():
    guard = DivergenceGuard("supernet", factor=3.0, patience=3, hint="lower lr (now 10)")
    for step, loss in enumerate([0.6, 0.6, 5.0, 6.0], start=1):
        guard.check(step, loss)
    with pytest.raises(TrainingDiverged) as info:
        guard.check(5, 7.0)
    assert str(info.value) == (
        "supernet: loss 7 at step 5 is more than 3x the running median (0.6) for 3 steps "
        "in a row; training stopped; lower lr (now 10)"
    )


def test_an_absurd_learning_rate_trips_the_guard_with_its_message():
    with pytest.raises(
        TrainingDiverged,
        match=r"^train: loss .* at step \d+ is more than 3x the running median .*"
        r"lower lr \(now 10000\) or raise min_warmup_steps \(now 0\)$",
    ):
        trained(TrainConfig(epochs=8, lr=1e4, min_warmup_steps=0, warmup=0.0, clip=None))


def test_sane_training_has_no_diverged_step():
    _, trainer = trained(TrainConfig(epochs=6, lr=0.1))
    assert trainer.divergence.count == 0 and trainer.divergence.first_step is None


def test_head_init_starts_at_the_constant_predictor():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.head_w, self.head_b = nn.Parameter(torch.ones(1, 7)), nn.Parameter(torch.zeros(1))

    class WithHead(Tiny):
        def __init__(self):
            super().__init__()
            self.head = Head()

        def forward(self, dense, sparse):
            x = torch.cat([dense, self.emb(sparse[:, 0])], dim=1)
            return nn.functional.linear(x, self.head.head_w, self.head.head_b).squeeze(1)

    model = WithHead()
    init_head(model, 0.25)
    logits = model(*make_batches(1)[0][:2])
    assert torch.allclose(logits, torch.full_like(logits, math.log(0.25 / 0.75)))


def test_early_stopping_restores_the_best_epoch_when_validation_rises():
    """Validation loss falls until epoch 3, then rises: training stops `patience` epochs later and the
    weights are those after epoch 3."""
    torch.manual_seed(0)
    model, batches = Tiny(), make_batches()
    values = iter([0.60, 0.55, 0.50, 0.52, 0.58, 0.61, 0.7])
    snapshots = {}

    def validate():
        snapshots[trainer.step] = {k: v.clone() for k, v in model.state_dict().items()}
        return next(values)

    trainer = Trainer(model, TrainConfig(epochs=10, patience=2, min_warmup_steps=0))
    trainer.fit(lambda epoch: iter(batches), steps_per_epoch=8, validate=validate)
    assert [p.step for p in trainer.curve] == [8, 16, 24, 32, 40]
    assert [p.log_loss for p in trainer.curve] == [0.60, 0.55, 0.50, 0.52, 0.58]
    assert trainer.best_step == 24 and trainer.step == 40
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[24][name]), name


def test_early_stopping_waits_for_the_end_of_the_warmup():
    torch.manual_seed(0)
    model, batches = Tiny(), make_batches()
    values = iter([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])
    trainer = Trainer(model, TrainConfig(epochs=10, patience=2, min_warmup_steps=40))
    trainer.fit(lambda epoch: iter(batches), steps_per_epoch=8, validate=lambda: next(values))
    assert trainer.best_step == 8 and trainer.step == 40  # patience ran out at step 24, the warm-up at 40


def test_losses_read_every_few_steps_equal_every_step_and_the_guard_still_stops(tmp_path):
    config = TrainConfig(epochs=2, checkpoint_every=4)
    torch.manual_seed(0)
    a = Trainer(Tiny(), config)
    a.fit(lambda epoch: iter(make_batches()), steps_per_epoch=8)
    torch.manual_seed(0)
    b = Trainer(Tiny(), config, sync_every=5)  # what CUDA does by default (SYNC_EVERY_CUDA)
    b.fit(lambda epoch: iter(make_batches()), steps_per_epoch=8)
    assert b.losses == a.losses and len(b.losses) == 16
    batches = make_batches()
    batches[5] = (torch.full_like(batches[5][0], float("nan")), batches[5][1], batches[5][2])
    ckpt = tmp_path / "ckpt.pt"
    torch.manual_seed(0)
    c = Trainer(Tiny(), TrainConfig(epochs=1, checkpoint_every=2, checkpoint_seconds=0), checkpoint=ckpt, sync_every=3)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 6; training stopped \(last good checkpoint"):
        c.fit(lambda epoch: iter(batches), steps_per_epoch=8)
    assert c.divergence.count == 1 and c.divergence.first_step == 6 and len(c.losses) == 5
    assert load_checkpoint(ckpt)["step"] == 4  # the checkpoint after step 6 was never written


def test_a_resumed_run_keeps_the_guards_window_and_reports_what_an_uninterrupted_one_does(tmp_path):
    """A spike in the 6th and 10th steps (logits x 50), a checkpoint every 4 steps: killed at step 8 and resumed,
    the guard's report and the weights equal the uninterrupted run's."""

    def run(checkpoint, steps=None):
        torch.manual_seed(0)
        model = Tiny()
        trainer = Trainer(
            model,
            TrainConfig(epochs=2, lr=0.05, min_warmup_steps=0, checkpoint_every=4),
            forward=lambda d, s, step: model(d, s) * (50.0 if step in (5, 9) else 1.0),
            checkpoint=checkpoint,
        )
        trainer.fit(lambda epoch: iter(make_batches()), steps_per_epoch=8, stop_after=steps)
        return model, trainer

    full, uninterrupted = run(None)
    assert str(uninterrupted.divergence).startswith("2 diverged steps (first at step 6")  # counted from 1
    run(tmp_path / "ckpt.pt", steps=8)
    resumed_model, resumed = run(tmp_path / "ckpt.pt")
    assert len(resumed.losses) == 8  # resumed at step 8, not trained again from step 0
    assert resumed.divergence == uninterrupted.divergence
    assert list(resumed.guard.recent) == list(uninterrupted.guard.recent)
    for (name, a), b in zip(full.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_a_run_that_stopped_early_trains_no_further_when_fit_again_on_its_checkpoint(tmp_path):
    values = iter([0.60, 0.55, 0.50, 0.52, 0.58, 0.40, 0.30])  # would improve again after the stop

    def run():
        torch.manual_seed(0)
        trainer = Trainer(Tiny(), TrainConfig(epochs=10, patience=2, min_warmup_steps=0), checkpoint=tmp_path / "c.pt")
        trainer.fit(lambda epoch: iter(make_batches()), steps_per_epoch=8, validate=lambda: next(values))
        return trainer

    first = run()
    assert first.stopped and first.step == 40 and first.best_step == 24
    again = run()
    assert again.stopped and again.step == 40 and again.best_step == 24 and again.losses == []
    assert [p.log_loss for p in again.curve] == [0.60, 0.55, 0.50, 0.52, 0.58]
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name]), name


def test_a_run_cut_short_by_stop_after_validates_and_stops_as_an_uninterrupted_one(tmp_path):
    config = TrainConfig(epochs=3, checkpoint_every=5, patience=1, min_warmup_steps=0)

    def run(checkpoint=None, stop_after=None):
        torch.manual_seed(0)
        trainer = Trainer(Tiny(), config, checkpoint=checkpoint)
        batches = make_batches()

        def validate():  # a deterministic function of the weights
            with torch.no_grad():
                return float(sum(p.double().sum() for p in trainer.model.parameters()))

        trainer.fit(lambda e: iter(batches), steps_per_epoch=8, stop_after=stop_after, validate=validate)
        return trainer

    whole = run()
    cut = run(tmp_path / "c.pt", stop_after=5)
    assert cut.curve == [] and cut.step == 5  # no validation at the cut: it is not the end of the run
    resumed = run(tmp_path / "c.pt")
    assert len(resumed.losses) == whole.step - 5  # resumed at step 5, not trained again from step 0
    assert [(p.step, p.log_loss) for p in resumed.curve] == [(p.step, p.log_loss) for p in whole.curve]
    assert (resumed.best_step, resumed.step, resumed.stopped) == (whole.best_step, whole.step, whole.stopped)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_nan_validation_is_never_the_best_step():
    torch.manual_seed(0)
    values = iter([float("nan"), 0.5, 0.4, 0.3, 0.2, 0.1])
    trainer = Trainer(Tiny(), TrainConfig(epochs=6, patience=2, min_warmup_steps=0))
    trainer.fit(lambda e: iter(make_batches()), steps_per_epoch=8, validate=lambda: next(values))
    assert [p.step for p in trainer.curve] == [8, 16, 24, 32, 40, 48]
    assert trainer.best_step == 48 and not trainer.stopped


def test_the_guards_error_keeps_its_step_loss_and_detail_across_processes():
    import pickle

    guard = DivergenceGuard("train", factor=3.0, patience=5, hint="lower lr (now 1)")
    guard.check(1, 0.6)
    with pytest.raises(TrainingDiverged) as info:
        guard.check(2, float("inf"))
    back = pickle.loads(pickle.dumps(info.value))
    assert str(back) == "train: loss is inf at step 2; training stopped; lower lr (now 1)"
    assert (back.step, back.loss, back.detail) == (2, float("inf"), "loss is inf at step 2")


def test_progress_is_a_bar_on_a_terminal_and_a_line_a_minute_in_a_log(monkeypatch, capsys):
    """Off a terminal (a log file, a pipe) an erased bar left an empty line after every stage header, and hours of
    training said nothing: there a line is written at most every `LINE_EVERY` seconds."""
    from rich import get_console
    from rich.progress import Progress

    from nasrec.evaluators.progress import LINE_EVERY, LineProgress, progress_bar

    for terminal in (True, False):
        monkeypatch.setattr(type(get_console()), "is_terminal", property(lambda self, t=terminal: t))
        shown = progress_bar(True)
        assert isinstance(shown, Progress if terminal else LineProgress) and not getattr(shown, "disable", False)
        off = progress_bar(False)
        assert isinstance(off, Progress) and off.disable
    now = [0.0]
    with LineProgress(clock=lambda: now[0]) as bar:
        task = bar.add_task("train ab12", total=300, completed=0, info="")
        for step in range(1, 301):
            now[0] = step * 0.5  # a step every half second: a line every 120 steps
            bar.update(task, advance=1, info=f"loss {1 / step:.4f}")
    assert capsys.readouterr().out.splitlines() == [
        "train ab12: 120/300, loss 0.0083",
        "train ab12: 240/300, loss 0.0042",
    ]
    assert LINE_EVERY == 60.0
