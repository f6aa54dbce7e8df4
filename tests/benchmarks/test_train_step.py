"""The throughput benchmark's matmul-kernel share (benchmarks/train_step.py), behind its speedup bound."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from train_step import matmul_fraction


@pytest.fixture
def one_thread():
    """The benchmark's setting (a second thread's wait would be counted as the kernel's time)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_matmul_fraction_counts_matmul_kernels_only(one_thread):
    a, b, x = torch.randn(512, 512), torch.randn(512, 512), torch.randn(1 << 20)
    assert matmul_fraction(lambda: a @ b, 3) > 0.9  # profiler bookkeeping and a loaded machine: not 1.0
    assert matmul_fraction(lambda: torch.nn.functional.linear(a, b, a[0]), 3) > 0.9  # addmm with its bias broadcast
    assert matmul_fraction(lambda: (x.exp() * 2).sum(), 3) == 0.0
    both = matmul_fraction(lambda: (a @ b, (x.exp() * 2).sum()), 3)
    assert 0.0 < both < 1.0
