"""A run prints its work before it starts: each stage's evaluations and training steps, counted from the config and
the data."""

from rich.console import Console

from nasrec.search.pipeline import Pipeline, RunConfig
from nasrec.search.plan import plan
from tests.search.test_final_stage import config, fake_training  # noqa: F401  (a fixture)


def test_the_plan_counts_each_stages_work_from_the_config_and_the_data():
    assert plan(RunConfig(), train_rows=36_672_493, budget=2048, supernet=True) == [
        ("supernet", "1 epoch of 36,672,493 rows: 71,625 steps of 512"),
        ("search", "2,048 proxy evaluations (evolution, finetune)"),
        ("top-k", "15 candidates x 1 seed, each at most 10 epochs: 716,250 steps of 512"),
        ("random baseline", "as many proxy evaluations and its top-15 (what it shares with the search, reused)"),
        ("final", "6 models x 3 seeds, each at most 10 epochs: 716,250 steps of 512"),
    ]
    other = RunConfig(
        objectives=("logloss", "flops"),
        supernet={"train": {"epochs": 0.5, "batch_size": 1024}},
        topk_seeds=2,
        final_seeds=1,
        final_epochs=2.5,
        final_protocol="retrain",
        random_baseline=False,
        zoo=("dlrm",),
    )
    assert plan(other, train_rows=11_960, budget=None, supernet=True) == [
        ("supernet", "0.5 epochs of 11,960 rows: 6 steps of 1,024"),
        ("search", "proxy evaluations until the strategy stops (evolution, finetune)"),
        ("top-k", "15 candidates (or the Pareto front, if larger) x 2 seeds, each at most 10 epochs: 230 steps of 512"),
        (
            "final",
            "2 models x 1 seed, each at most 2.5 epochs: 58 steps of 512, then again on train + valid for the "
            "epochs early stopping chose",
        ),
    ]
    assert [stage for stage, _ in plan(other, 11_960, 40, supernet=False)] == ["search", "top-k", "final"]
    alone = other.model_copy(update={"zoo": ()})  # NASRecNet alone: one model
    assert plan(alone, 11_960, 40, supernet=False)[-1][1].startswith("1 model x 1 seed, each at most 2.5 epochs")
    assert plan(other, 2048, 40, supernet=True)[0] == ("supernet", "0.5 epochs of 2,048 rows: 1 step of 1,024")


def test_a_run_prints_its_plan_before_its_first_stage(tmp_path, tiny_space_file, fake_training):  # noqa: F811
    console = Console(record=True, width=200)
    Pipeline(config(tiny_space_file), tmp_path / "run", console=console, progress=False).run()
    assert console.export_text().startswith(
        "plan (at most: early stopping ends trainings sooner; a diverged training is retried, calmer)\n"
        "  search: 6 proxy evaluations (random, params)\n"
        "  top-k: 2 candidates x 1 seed, each at most 0.1 epochs: 2 steps of 512\n"
        "  random baseline: as many proxy evaluations and its top-2 (what it shares with the search, reused)\n"
        "  final: 2 models x 2 seeds, each at most 0.1 epochs: 2 steps of 512\n"
        "stage search\n"
    )
