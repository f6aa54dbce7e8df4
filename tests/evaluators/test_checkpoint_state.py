"""What a supernet checkpoint holds: the optimizers' state while a run can still resume, only weights after."""

import torch

from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, train_supernet
from nasrec.evaluators.checkpoint import load_checkpoint


def test_a_finished_supernet_checkpoint_holds_only_what_resume_needs(tmp_path, tiny_space_file):
    config = SupernetTrainingConfig(
        data="sample:criteo", space=tiny_space_file, cap=5000, train=TrainConfig(epochs=0.25, checkpoint_every=3)
    )
    ckpt = tmp_path / "checkpoint.pt"
    train_supernet(config, tmp_path, stop_after=4)
    state = load_checkpoint(ckpt)
    assert state["step"] == 4 and len(state["optimizers"]) == 2  # unfinished: Adagrad's sums, for an exact resume
    done = train_supernet(config, tmp_path)
    state = load_checkpoint(ckpt)
    assert sorted(state) == ["config", "divergence", "model", "optimizers", "step"]
    assert state["optimizers"] == [] and state["step"] == round(0.25 * (11_960 // 512))  # 6 steps
    weights = sum(t.numel() * t.element_size() for t in state["model"].values())
    assert weights < ckpt.stat().st_size < weights + 64 * 1024
    again = train_supernet(config, tmp_path)  # a rerun resumes the finished run: nothing left to train
    for (name, a), b in zip(done.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
