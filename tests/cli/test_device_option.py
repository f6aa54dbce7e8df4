"""`--device` on the commands that train: bad values are one-line errors; the pipeline passes it everywhere."""

import pytest
import torch
from typer.testing import CliRunner

from nasrec.cli.main import app
from nasrec.search import pipeline, scratch_stages
from nasrec.search.pipeline import Pipeline, RunConfig


@pytest.mark.parametrize("command", [["train-supernet"], ["evaluate", "zoo:dlrm"], ["rank-study"], ["search"]])
def test_unknown_device_is_one_clear_error(command, tmp_path):
    result = CliRunner().invoke(
        app,
        [*command, "--device", "tpu", "-o", str(tmp_path / "out")]
        if command[0] != "evaluate"
        else [*command, "--device", "tpu"],
    )
    assert result.exit_code == 1
    assert "--device must be cpu, cuda, cuda:N or auto, got 'tpu'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_so():
    result = CliRunner().invoke(app, ["evaluate", "zoo:dlrm", "--device", "cuda"])
    assert result.exit_code == 1
    assert "--device cuda: CUDA is not available on this machine (use cpu or auto)" in result.output


def test_pipeline_passes_the_device_to_every_stage(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(pipeline, "train_supernet", lambda *a, device, **k: seen.setdefault("supernet", device))

    class Full:
        def __init__(self, **config):
            seen.setdefault("full", []).append(config["device"])

    monkeypatch.setattr(scratch_stages, "FullTrain", Full)
    p = Pipeline(RunConfig(device="auto"), tmp_path, progress=False)
    p.train_supernet()
    p.train_top_k([], tmp_path / "topk.jsonl")
    p.final([])
    assert seen == {"supernet": "auto", "full": ["auto", "auto"]}
    assert p.evaluator_config()["device"] == "auto"


class Stop(Exception):
    """Raised where the command's work would start."""


@pytest.mark.parametrize("command", [["train-supernet"], ["evaluate", "zoo:dlrm"], ["rank-study"], ["search"]])
def test_training_on_the_cpu_of_a_machine_with_cuda_is_noted_once(command, tmp_path, monkeypatch):
    from nasrec.cli import rank_study, search, train

    def stop(folder):
        raise Stop

    for module in (train, rank_study, search):
        monkeypatch.setattr(module, "tensorboard", stop)  # entered just after the note
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    out = [] if command[0] == "evaluate" else ["-o", str(tmp_path / "out")]
    note = "note: training on the CPU; this machine has CUDA: --device cuda (or auto)\n"
    for device, env, expected in (("cpu", {}, note), ("auto", {}, ""), ("cpu", {"RANK": "1"}, "")):
        result = CliRunner().invoke(app, [*command, *out, "--device", device], env=env)
        assert isinstance(result.exception, Stop) and result.stderr == expected
    if command == ["search"]:  # a run checks what its config names first: an error comes alone
        missing = CliRunner().invoke(app, [*command, *out, "--data", str(tmp_path / "none")])
        assert missing.exit_code == 1 and missing.stderr.startswith("error: ") and "note:" not in missing.stderr
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert CliRunner().invoke(app, [*command, *out]).stderr == ""  # cpu, the default, on a machine without CUDA
