"""One rank of the data-parallel supernet test (`torchrun --nproc_per_node=2 ddp_worker.py SPACE OUT RANKS`):
trains with `train_supernet`, then saves this rank's parameters to RANKS/rank<r>.pt for the test to compare, and
the number of steps this call trained to RANKS/steps<r>.txt (a resume trains only the steps left)."""

import os
import sys
from pathlib import Path

import torch

from nasrec.evaluators import SupernetTrainingConfig, TrainConfig, train_supernet
from nasrec.evaluators.training import Trainer


def config(space: str) -> SupernetTrainingConfig:
    return SupernetTrainingConfig(
        data="sample:criteo",
        space=space,
        cap=5000,
        train=TrainConfig(epochs=1, batch_size=256, lr=0.03, checkpoint_every=10),
    )


if __name__ == "__main__":
    space, out, ranks = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    stop_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    steps, real = [0], Trainer._train_step

    def counted(self, batch, lr_factor):
        steps[0] += 1
        return real(self, batch, lr_factor)

    Trainer._train_step = counted
    supernet = train_supernet(config(space), out, stop_after=stop_after)
    ranks.mkdir(parents=True, exist_ok=True)
    rank = os.environ.get("RANK", "0")
    torch.save(supernet.state_dict(), ranks / f"rank{rank}.pt")
    (ranks / f"steps{rank}.txt").write_text(str(steps[0]))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
