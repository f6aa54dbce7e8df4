"""Checkpoints are bounded by steps and by time: a save at a multiple of `checkpoint_every` steps at least
`checkpoint_seconds` after the last one, and always at the end, at the same steps on every rank of a torchrun job;
a checkpoint or folder written before the setting existed resumes."""

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, train_supernet, training
from nasrec.evaluators.checkpoint import load_checkpoint, save_checkpoint
from nasrec.evaluators.distributed import DataParallel
from tests.evaluators.test_training_loop import Tiny, make_batches


def saved_steps(monkeypatch, config: TrainConfig, tmp_path, **fit) -> list[int]:
    """The steps a run of 16 steps (2 epochs of 8) saves at, on a clock that reads one second a step."""
    saves: list[int] = []
    real = training.save_checkpoint
    monkeypatch.setattr(
        training, "save_checkpoint", lambda state, path: saves.append(state["step"]) or real(state, path)
    )
    torch.manual_seed(0)
    trainer = training.Trainer(Tiny(), config, checkpoint=tmp_path / "c.pt")
    monkeypatch.setattr(training.time, "monotonic", lambda: float(trainer.step))
    trainer.fit(lambda epoch: iter(make_batches()), steps_per_epoch=8, **fit)
    return saves


def test_a_checkpoint_waits_for_checkpoint_every_steps_and_checkpoint_seconds(monkeypatch, tmp_path):
    bounded = TrainConfig(epochs=2, checkpoint_every=2, checkpoint_seconds=5)
    assert saved_steps(monkeypatch, bounded, tmp_path / "a") == [6, 12, 16]  # 6 s apart at least, and the end
    every = TrainConfig(epochs=2, checkpoint_every=2, checkpoint_seconds=0)
    assert saved_steps(monkeypatch, every, tmp_path / "b") == [2, 4, 6, 8, 10, 12, 14, 16]
    assert saved_steps(monkeypatch, TrainConfig(epochs=2), tmp_path / "c") == [16]  # the default: 300 s
    assert saved_steps(monkeypatch, bounded, tmp_path / "d", stop_after=5) == [5]  # a cut run saves its end
    assert saved_steps(monkeypatch, bounded, tmp_path / "d") == [10, 16]  # resumed: 5 s after the resume


def test_an_early_stop_is_saved_whatever_the_time(monkeypatch, tmp_path):
    values = iter([0.5, 0.6, 0.7, 0.8])
    config = TrainConfig(epochs=10, patience=2, min_warmup_steps=0, checkpoint_seconds=1e9)
    assert saved_steps(monkeypatch, config, tmp_path, validate=lambda: next(values)) == [24]
    assert load_checkpoint(tmp_path / "c.pt")["stopped"]


def test_a_supernet_folder_and_checkpoint_from_before_checkpoint_seconds_resume(tmp_path, tiny_space_file, train_steps):
    recipe = TrainConfig(epochs=0.25, checkpoint_every=3)
    config = SupernetTrainingConfig(data="sample:criteo", space=tiny_space_file, cap=5000, train=recipe)
    whole = train_supernet(config, tmp_path / "whole")
    train_supernet(config, tmp_path / "old", stop_after=3)
    # as nasrec wrote them before the setting existed: neither the folder's config nor the checkpoint's recipe has it
    folder = tmp_path / "old" / "config.json"
    raw = json.loads(folder.read_text())
    del raw["train"]["checkpoint_seconds"]
    folder.write_text(json.dumps(raw))
    state = load_checkpoint(tmp_path / "old" / "checkpoint.pt")
    recipe_json = json.loads(state["config"])
    del recipe_json["checkpoint_seconds"]
    save_checkpoint({**state, "config": json.dumps(recipe_json)}, tmp_path / "old" / "checkpoint.pt")
    train_steps.take()
    slower = config.model_copy(update={"train": recipe.model_copy(update={"checkpoint_seconds": 60})})
    resumed = train_supernet(slower, tmp_path / "old")  # another time bound: how often it saves, not what it trains
    assert train_steps.take() == 3  # resumed at step 3
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


class PeerClock(DataParallel):
    """Rank 0 of a two-rank job, stood in for: `any` answers as the all-reduce would, with the other rank wanting
    a save at `peer_steps` (its clock reads otherwise); nothing else is collective."""

    def __init__(self, step, peer_steps: set[int]) -> None:
        super().__init__()
        self.step, self.peer_steps, self.asked = step, peer_steps, []

    def any(self, flag: bool, device: torch.device) -> bool:
        self.asked.append(self.step())
        return flag or self.step() in self.peer_steps


@pytest.mark.parametrize(
    "seconds, saves, asked", [(5, [4, 10, 16], list(range(2, 17, 2))), (0, list(range(2, 17, 2)), [])]
)
def test_every_rank_saves_when_any_ranks_clock_says_so(seconds, saves, asked, monkeypatch, tmp_path):
    config = TrainConfig(epochs=2, checkpoint_every=2, checkpoint_seconds=seconds)
    peer = PeerClock(lambda: int(training.time.monotonic()), peer_steps={4})  # the clock reads the step
    monkeypatch.setattr(training, "DataParallel", lambda: peer)
    # alone, this rank's clock would save at [6, 12, 16] (the first test): the ranks agree on the peer's 4
    assert saved_steps(monkeypatch, config, tmp_path) == saves
    assert peer.asked == asked  # one all-reduce every checkpoint_every steps, none when saves go by steps alone


def agree(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    parallel = DataParallel(rank=rank, world_size=2)
    answers = [parallel.any(rank == 0, torch.device("cpu")), parallel.any(rank == 1, torch.device("cpu"))]
    answers.append(parallel.any(False, torch.device("cpu")))
    Path(out, f"rank{rank}.json").write_text(json.dumps(answers))
    dist.destroy_process_group()


def test_any_rank_is_one_answer_on_every_rank(tmp_path):
    mp.spawn(agree, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    assert [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)] == [[True, True, False]] * 2
