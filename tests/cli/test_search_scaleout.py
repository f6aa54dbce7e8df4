"""`nasrec search` on Ray and under torchrun: an address where no cluster answers is refused before anything is
written, a finished run's rerun starts no Ray (its cluster may be gone), and torchrun is refused for the search."""

import pytest

from nasrec.errors import UsageError
from nasrec.search.ray_executor import check_address
from tests.cli.invoke import main_cli, nasrec, one_error, runner

CHEAP = ("--evaluator", "params", "--strategy", "random", "--budget", "2", "--top-k", "1", "--zoo", "")
CHEAP += ("--full-epochs", "0.05", "--final-epochs", "0.05", "--final-seeds", "1", "--topk-seeds", "1")


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_a_ray_address_where_no_cluster_answers_is_refused_before_anything_is_written(tmp_path, address):
    out = tmp_path / "run"
    result = nasrec("search", *CHEAP, "--executor", "ray", "--ray-address", address, "-o", str(out))
    one_error(result, f"--ray-address {address}: no Ray cluster answers there (Connection refused)")
    assert not out.exists()


def test_auto_is_resolved_as_ray_resolves_it_and_probed(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(UsageError) as caught:
        check_address("auto")
    assert str(caught.value) == "--ray-address auto (127.0.0.1:1): no Ray cluster answers there (Connection refused)"


def test_rerunning_a_finished_run_starts_no_ray(tmp_path):
    out = tmp_path / "run"
    first = nasrec("search", *CHEAP, "--random-baseline", "-o", str(out))
    assert first.exit_code == 0, first.output
    ray = ("--executor", "ray", "--ray-address", "127.0.0.1:1")
    again = nasrec("search", *CHEAP, "--random-baseline", *ray, "-o", str(out))
    assert again.exit_code == 0, again.output
    assert "stage search (done: skipped)" in again.stdout and "stage random baseline (done: skipped)" in again.stdout
    assert again.stderr == ""


def test_search_under_torchrun_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    env = {"COLUMNS": "200", "WORLD_SIZE": "2", "RANK": "1"}
    result = runner.invoke(main_cli.app, ["search", *CHEAP, "-o", str(out)], env=env)
    one_error(
        result,
        "search runs as one process, not one per torchrun rank (WORLD_SIZE=2): run it without torchrun (torchrun is "
        "for train-supernet); --workers N or --executor ray scale the search",
    )
    assert not out.exists()


def test_demo_under_torchrun_is_refused_as_search_is(tmp_path):
    out = tmp_path / "demo"
    env = {"COLUMNS": "200", "WORLD_SIZE": "2", "RANK": "0"}
    result = runner.invoke(main_cli.app, ["demo", "-o", str(out)], env=env)
    one_error(
        result,
        "search runs as one process, not one per torchrun rank (WORLD_SIZE=2): run it without torchrun (torchrun is "
        "for train-supernet); --workers N or --executor ray scale the search",
    )
    assert not out.exists()
