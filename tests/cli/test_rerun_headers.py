"""Rerunning a finished run folder says on each stage's header that the stage is done and skipped; a stage whose
work a rerun redoes (its output deleted, or the search extended) keeps the bare header of a first run."""

import io
import shutil

import pytest
from rich.console import Console

from nasrec.records import RunPaths
from nasrec.search.pipeline import Pipeline, RunConfig, StrategyChoice

STAGES = ["supernet", "search", "top-k", "final", "compare"]


def headers(config: RunConfig, root) -> list[str]:
    out = io.StringIO()
    Pipeline(config, root, console=Console(file=out, width=200), progress=False).run()
    return [line for line in out.getvalue().splitlines() if line.startswith("stage ")]


def test_a_rerun_names_the_stages_it_skips(tmp_path, tiny_space_file, monkeypatch):
    config = RunConfig(
        data="sample:criteo",
        space=tiny_space_file,
        supernet={"train": {"epochs": 0.1}},
        strategy={"name": "random", "options": {"budget": 2}},
        evaluator={"name": "finetune", "config": {"recipe": "fast", "train_rows": 256}},
        top_k=1,
        full_epochs=0.2,
        final_epochs=0.2,
        final_seeds=1,
        zoo=(),
        random_baseline=False,
    )
    root = tmp_path / "run"
    assert headers(config, root) == [f"stage {stage}" for stage in STAGES]
    times, summary = RunPaths(root).stage_times.read_bytes(), RunPaths(root).summary.read_bytes()
    assert headers(config, root) == [f"stage {stage} (done: skipped)" for stage in STAGES]
    # stages read back add no time: the log and the summary are the ones the run left
    assert RunPaths(root).stage_times.read_bytes() == times and RunPaths(root).summary.read_bytes() == summary
    shutil.rmtree(RunPaths(root).final.parent)  # as the final stage's own refusal advises: trained again
    assert headers(config, root) == [
        *(f"stage {stage} (done: skipped)" for stage in STAGES[:3]),
        "stage final",
        "stage compare",
    ]
    extended = config.model_copy(update={"strategy": StrategyChoice(name="random", options={"budget": 3})})
    assert headers(extended, root) == ["stage supernet (done: skipped)", *(f"stage {s}" for s in STAGES[1:])]
    further = config.model_copy(update={"strategy": StrategyChoice(name="random", options={"budget": 4})})

    def killed(*args, **kwargs):  # the extension went on (config.json extended), then the run was killed
        raise KeyboardInterrupt

    monkeypatch.setattr("nasrec.search.pipeline.run_search", killed)
    with pytest.raises(KeyboardInterrupt):
        headers(further, root)
    monkeypatch.undo()
    assert headers(further, root) == ["stage supernet (done: skipped)", *(f"stage {s}" for s in STAGES[1:])]
    assert "(extension)" not in Pipeline(further, root, progress=False).run().stage_seconds
