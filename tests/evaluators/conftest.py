"""Small but real fixtures: a tiny search space and a supernet trained on the bundled Criteo rows."""

import pytest

from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, train_supernet


@pytest.fixture(scope="session")
def trained_supernet(tmp_path_factory, tiny_space_file):
    """(checkpoint path, config): two epochs on the bundled real Criteo rows' train split (lr 0.03: the
    paper's 0.12 is tuned for 36M rows; on 11k rows Adagrad's first steps at 0.12 overshoot). With TINY's
    dense dims (16, 32) a quarter of the FM mergers are at D = 16, where the reference's raw FM term (no
    LayerNorm) makes 4 of 20 sampled subnets score worse after training than before: `norm_raw_fm` keeps
    the LayerNorm there (docs/compiler.md)."""
    import os

    os.environ.setdefault("NASREC_CACHE", str(tmp_path_factory.mktemp("cache")))
    out = tmp_path_factory.mktemp("supernet")
    config = SupernetTrainingConfig(
        data="sample:criteo",
        space=tiny_space_file,
        cap=5000,
        norm_raw_fm=True,
        train=TrainConfig(epochs=2, lr=0.03, checkpoint_every=10),
    )
    train_supernet(config, out)
    return str(out / "checkpoint.pt"), config


class StepCounter:
    """Counts the training steps run (`Trainer._train_step` calls, supernets' included)."""

    def __init__(self) -> None:
        self.n = 0

    def take(self) -> int:
        """The steps run since the last `take` (or since the counter was installed)."""
        n, self.n = self.n, 0
        return n


@pytest.fixture
def train_steps(monkeypatch) -> StepCounter:
    """A `StepCounter` installed on `Trainer._train_step`: tells a resumed call (the steps left) from a restart
    (every step again), whose final weights are the same."""
    from nasrec.evaluators.training import Trainer

    counter, real = StepCounter(), Trainer._train_step

    def counted(self, batch, lr_factor):
        counter.n += 1
        return real(self, batch, lr_factor)

    monkeypatch.setattr(Trainer, "_train_step", counted)
    return counter
