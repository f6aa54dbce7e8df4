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


class Event:
    """One row of `profile.key_averages()`: an operator, its time with what it calls and without."""

    def __init__(self, key: str, total: float, own: float) -> None:
        self.key, self.cpu_time_total, self.self_cpu_time_total = key, total, own


def test_the_matmul_fraction_is_the_matmul_kernels_time_with_what_they_call_over_all_time(monkeypatch):
    """On recorded events (no timing): mm, addmm with its bias broadcast and bmm, not the wrappers that call
    them (linear, matmul), over every operator's own time."""
    events = [
        Event("aten::linear", 20, 0),  # calls addmm
        Event("aten::addmm", 20, 15),  # calls expand (the bias broadcast)
        Event("aten::expand", 5, 5),
        Event("aten::matmul", 30, 0),  # calls mm
        Event("aten::mm", 30, 30),
        Event("aten::bmm", 10, 10),
        Event("aten::exp", 40, 40),
    ]
    calls = {"before": 0, "profiled": 0}
    profiling = []

    class Profile:
        def __init__(self, activities):
            assert activities == [torch.profiler.ProfilerActivity.CPU]

        def __enter__(self):
            profiling.append(True)
            return self

        def __exit__(self, *exc):
            profiling.pop()

        def key_averages(self):
            return events

    def step():
        calls["profiled" if profiling else "before"] += 1

    monkeypatch.setattr(torch.profiler, "profile", Profile)
    assert matmul_fraction(step, 3) == pytest.approx((20 + 30 + 10) / 100)
    assert calls == {"before": 1, "profiled": 3}  # one unprofiled call first (allocations), then the steps


def test_the_matmul_fraction_counts_matmul_kernels_only(one_thread, monkeypatch):
    """On the real profiler: which operators it recorded, how often; of the shares, only which are 0."""
    real, recorded = torch.profiler.profile, []

    def profile(*args, **kwargs):
        recorded.append(real(*args, **kwargs))
        return recorded[-1]

    def counts() -> dict[str, int]:
        return {e.key: e.count for e in recorded[-1].key_averages()}

    monkeypatch.setattr(torch.profiler, "profile", profile)
    a, b, x = torch.randn(512, 512), torch.randn(512, 512), torch.randn(1 << 20)
    assert matmul_fraction(lambda: a @ b, 3) > 0 and counts()["aten::mm"] == 3
    assert matmul_fraction(lambda: torch.nn.functional.linear(a, b, a[0]), 3) > 0  # addmm with its bias broadcast
    assert counts()["aten::addmm"] == 3
    assert matmul_fraction(lambda: (x.exp() * 2).sum(), 3) == 0.0
    assert counts()["aten::exp"] == 3 and not {"aten::mm", "aten::addmm", "aten::bmm"} & set(counts())
    both = matmul_fraction(lambda: (a @ b, (x.exp() * 2).sum()), 3)
    assert 0.0 < both < 1.0 and counts()["aten::mm"] == counts()["aten::exp"] == 3
