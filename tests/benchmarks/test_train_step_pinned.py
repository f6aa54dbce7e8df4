"""The pinned-copy throughput benchmark (benchmarks/train_step_pinned.py): each worker process imports its own
copy of the package, and the two step in turn on the same model and batch."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_step_pinned as tp  # noqa: E402  (benchmarks/ is not a package)


def test_each_worker_imports_its_own_copy_and_steps_the_same_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASREC_FUSED_KERNELS", "0")  # the copy would build its own extension (~30 s)
    pinned = tmp_path / "before"
    shutil.copytree(ROOT / "nasrec", pinned / "nasrec", ignore=shutil.ignore_patterns("__pycache__"))
    workers = [tp.Worker(pinned), tp.Worker(ROOT)]
    try:
        paths = [w.ask(op="version")["path"] for w in workers]
        assert paths == [str(pinned / "nasrec"), str(ROOT / "nasrec")]
        spec = {"genotype": str(tp.ZOO / "dlrm.json"), "dataset": "criteo", "batch": 64, "cap": 1000, "seed": 0}
        for w in workers:
            assert w.ask(op="standalone", **spec) == {}
        times = tp.paired(workers, 2)
        assert len(times) == 2 and all(t > 0 for t in times)
        profiles = [w.ask(op="profile", steps=1) for w in workers]  # self CPU ms per step, by operator
        assert profiles[1]["aten::mm"] > 0
        assert set(profiles[0]) == set(profiles[1])  # two copies of one version: the same operators
        ops = set(profiles[1])
        # a whole training step of DLRM: the lookup, the dot interaction, the loss, its backward, both optimizers
        assert {"aten::embedding", "aten::bmm", "aten::binary_cross_entropy_with_logits", "AddmmBackward0"} <= ops
        assert len([op for op in ops if op.startswith("Optimizer.step#")]) == 2  # dense and embedding Adagrad
        tp.profile_diff(workers, spec, steps=1, top=3)  # --profile: both versions' operators side by side
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("self CPU ms per step, total: before ") and len(lines) == 4
        assert all(" before " in line and " current " in line for line in lines[1:])
    finally:
        for w in workers:
            w.close()


def test_a_folder_without_a_package_is_named(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_step_pinned.py"), "--before", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "--before must be a folder holding a pinned copy of the package (nasrec/__init__.py)" in out.stderr
