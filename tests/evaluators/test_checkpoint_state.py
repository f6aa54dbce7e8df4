"""What a supernet checkpoint holds: the optimizers' state while a run can still resume, only weights after."""

import pytest
import torch

from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, supernet_training, train_supernet
from nasrec.evaluators.checkpoint import load_checkpoint
from nasrec.evaluators.supernet_training import training_report


def test_a_finished_supernet_checkpoint_holds_only_what_resume_needs(tmp_path, tiny_space_file, train_steps):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, train=TrainConfig(epochs=0.25, checkpoint_every=3)
    )
    ckpt = tmp_path / "checkpoint.pt"
    train_supernet(config, tmp_path, stop_after=4)
    state = load_checkpoint(ckpt)
    assert state["step"] == 4 and len(state["optimizers"]) == 2  # unfinished: Adagrad's sums, for an exact resume
    done = train_supernet(config, tmp_path)
    assert train_steps.take() == 4 + 2  # the resume trains only the 2 steps left
    state = load_checkpoint(ckpt)
    assert sorted(state) == [
        "config",
        "divergence",
        "first_losses",
        "guard_in_a_row",
        "guard_recent",
        "last_losses",
        "model",
        "optimizers",
        "step",
        "stopped",
    ]
    assert state["optimizers"] == [] and state["step"] == round(0.25 * (11_960 // 512))  # 6 steps
    weights = sum(t.numel() * t.element_size() for t in state["model"].values())
    assert weights < ckpt.stat().st_size < weights + 64 * 1024
    again = train_supernet(config, tmp_path)  # a rerun resumes the finished run: nothing left to train
    assert train_steps.take() == 0
    for (name, a), b in zip(done.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_resumed_supernet_reports_the_runs_first_losses_and_a_kill_before_the_cleanup_is_mended(
    tmp_path, tiny_space_file, monkeypatch, train_steps
):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, train=TrainConfig(epochs=0.25, checkpoint_every=3)
    )
    train_supernet(config, tmp_path / "whole")
    assert train_steps.take() == 6
    train_supernet(config, tmp_path / "parts", stop_after=3)
    train_supernet(config, tmp_path / "parts")
    assert train_steps.take() == 3 + 3  # the second call resumed at step 3
    whole, parts = training_report(tmp_path / "whole"), training_report(tmp_path / "parts")
    assert parts == whole and parts["steps"] == 6 and len(parts["first_losses"]) == 5

    # killed after the last checkpoint, before the report and the optimizer state's removal
    def killed(*args, **kwargs):
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(supernet_training, "atomic_write_text", killed)
        with pytest.raises(SystemExit):
            train_supernet(config, tmp_path / "killed")
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["optimizers"] != []
    assert train_steps.take() == 6
    train_supernet(config, tmp_path / "killed")
    assert train_steps.take() == 0  # every step was trained and saved: the rerun only mends the folder
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["optimizers"] == []
    assert training_report(tmp_path / "killed")["steps"] == 6


def test_a_supernet_killed_mid_training_and_resumed_reports_the_runs_first_losses(
    tmp_path, tiny_space_file, monkeypatch, train_steps
):
    from nasrec.evaluators.training import Trainer

    recipe = TrainConfig(epochs=0.25, checkpoint_every=3, checkpoint_seconds=0)  # a checkpoint every 3 steps
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000, train=recipe)
    train_supernet(config, tmp_path / "whole")
    train_steps.take()
    real = Trainer._train_step  # counted

    def killed_at_step_4(self, batch, factor):
        if self.step == 4:
            raise SystemExit("killed")  # the system killing the process: no report written
        real(self, batch, factor)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_train_step", killed_at_step_4)
        with pytest.raises(SystemExit):
            train_supernet(config, tmp_path / "killed")
    assert (
        training_report(tmp_path / "killed") is None
        and load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 3
    )
    assert train_steps.take() == 4
    train_supernet(config, tmp_path / "killed")
    assert train_steps.take() == 3  # steps 3 to 5, from the checkpoint at step 3
    assert training_report(tmp_path / "killed") == training_report(tmp_path / "whole")
