import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import wait
from pathlib import Path

import pytest

from nasrec.data.errors import DataError
from nasrec.errors import UsageError
from nasrec.evaluators.base import build_evaluator
from nasrec.genotype import NASREC_FULL, NASREC_SMALL, sample
from nasrec.records import Evaluation
from nasrec.search.evolution import RegularizedEvolution
from nasrec.search.executors import InProcessExecutor, ProcessPoolExecutor, WorkersLost
from nasrec.search.random import RandomSearch
from nasrec.search.runner import run_search
from nasrec.state import read_jsonl
from tests.search.formula import FormulaEvaluator

ROOT = Path(__file__).resolve().parents[2]


def _script(log: Path, out: Path, sleep: float) -> subprocess.Popen:
    with open(f"{out}.stderr", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.search.search_script", str(log), str(out), str(sleep)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _stderr(out: Path) -> str:
    return Path(f"{out}.stderr").read_text()


def _running(pid: int) -> bool:
    """Whether process `pid` runs, asked of the OS (a `Process` object reaped by the pool's own thread can
    still read as alive): gone, or a zombie, is not running."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_search_then_resume_equals_an_uninterrupted_run(tmp_path):
    clean = _script(tmp_path / "clean.jsonl", tmp_path / "clean.json", 0.0)
    assert clean.wait(timeout=120) == 0, _stderr(tmp_path / "clean.json")

    log, out = tmp_path / "killed.jsonl", tmp_path / "killed.json"
    victim = _script(log, out, 0.1)
    deadline = time.time() + 120
    while _lines(log) < 12 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not out.exists() and 12 <= _lines(log) < 34
    resumed = _script(log, out, 0.0)
    assert resumed.wait(timeout=120) == 0, _stderr(out)

    a, b = json.loads((tmp_path / "clean.json").read_text()), json.loads(out.read_text())
    assert b["population"] == a["population"] and b["best"] == a["best"]
    records = read_jsonl(log, Evaluation)
    digests = [r.digest for r in records]
    assert len(digests) == len(set(digests)) == 10 + 8 * 3  # nothing evaluated twice
    assert [r.index for r in records] == list(range(34))
    assert set(digests) == {r.digest for r in read_jsonl(tmp_path / "clean.jsonl", Evaluation)}


def test_a_search_resumed_from_its_log_continues_as_if_uninterrupted(tmp_path):
    def evolution():
        return RegularizedEvolution(NASREC_FULL, seed=3, population=12, cycles=10, tournament=6, children=3)

    whole = evolution()
    run_search(whole, InProcessExecutor(FormulaEvaluator()), tmp_path / "whole.jsonl")
    log = tmp_path / "stopped.jsonl"
    run_search(evolution(), InProcessExecutor(FormulaEvaluator()), log, budget=21)  # mid-cycle
    assert _lines(log) == 21
    resumed = evolution()  # a fresh strategy: the log is replayed into it, nothing else is saved
    records = run_search(resumed, InProcessExecutor(FormulaEvaluator()), log)
    assert resumed.history == whole.history and list(resumed.population) == list(whole.population)
    assert [r.index for r in records] == list(range(42)) and len({r.digest for r in records}) == 42


def test_corrupt_last_line_is_dropped_with_a_warning_and_the_search_continues(tmp_path):
    log = tmp_path / "log.jsonl"
    run_search(RandomSearch(NASREC_SMALL, seed=1, budget=6), InProcessExecutor(FormulaEvaluator()), log, budget=4)
    with open(log, "a") as fh:
        fh.write('{"index": 4, "digest": "abc')  # killed mid-write
    with pytest.warns(RuntimeWarning, match=r"line 5: dropped an incomplete last record"):
        records = run_search(RandomSearch(NASREC_SMALL, seed=1, budget=6), InProcessExecutor(FormulaEvaluator()), log)
    assert len(records) == 6 and [r.index for r in read_jsonl(log, Evaluation)] == list(range(6))


def test_a_corrupt_line_in_the_middle_is_an_error_naming_it(tmp_path):
    log = tmp_path / "log.jsonl"
    run_search(RandomSearch(NASREC_SMALL, seed=1, budget=3), InProcessExecutor(FormulaEvaluator()), log)
    lines = log.read_text().splitlines()
    lines[1] = "{oops"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"log.jsonl, line 2: not a valid Evaluation record"):
        read_jsonl(log, Evaluation)


def test_failed_evaluations_are_logged_and_the_search_goes_on(tmp_path):
    evaluator = FormulaEvaluator(fail_digits="01")
    records = run_search(
        RegularizedEvolution(NASREC_SMALL, seed=2, population=8, cycles=4, tournament=4, children=2),
        InProcessExecutor(evaluator),
        tmp_path / "log.jsonl",
    )
    failed = [r for r in records if r.score is None]
    assert failed and all(r.error.startswith("RuntimeError: planned failure") for r in failed)
    assert len(records) == 16


def test_process_pool_gives_the_same_scores_as_in_process(tmp_path):
    evaluator = FormulaEvaluator()
    local = run_search(RandomSearch(NASREC_SMALL, seed=4, budget=6), InProcessExecutor(evaluator), tmp_path / "a.jsonl")
    pool = ProcessPoolExecutor(evaluator.name, evaluator.config, workers=2)
    try:
        remote = run_search(RandomSearch(NASREC_SMALL, seed=4, budget=6), pool, tmp_path / "b.jsonl", parallel=2)
    finally:
        pool.close()
    assert {r.digest: r.score.log_loss for r in local} == {r.digest: r.score.log_loss for r in remote}


def test_a_worker_killed_by_the_system_is_replaced_and_no_genotype_is_logged_as_failed(tmp_path):
    (tmp_path / "kill").touch()
    evaluator = FormulaEvaluator(sleep=0.2, kill_file=str(tmp_path / "kill"))
    pool = ProcessPoolExecutor(evaluator.name, evaluator.config, workers=2)
    try:
        records = run_search(RandomSearch(NASREC_SMALL, seed=4, budget=6), pool, tmp_path / "a.jsonl", parallel=2)
    finally:
        pool.close()
    assert pool.restarts == 1 and not (tmp_path / "kill").exists()
    assert len(records) == 6 and all(r.score is not None for r in records)
    clean = run_search(
        RandomSearch(NASREC_SMALL, seed=4, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "b.jsonl"
    )
    assert {r.digest: r.score.log_loss for r in records} == {r.digest: r.score.log_loss for r in clean}


def test_pool_workers_exit_when_their_driver_is_killed(tmp_path):
    """A SIGKILLed driver cannot stop its pool: the workers notice they were re-parented and exit."""
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.search.formula import FormulaEvaluator\n"
            "from nasrec.search.executors import ProcessPoolExecutor\n"
            "from nasrec.genotype import NASREC_SMALL, sample\n"
            "e = FormulaEvaluator(sleep=60)\n"
            "pool = ProcessPoolExecutor(e.name, e.config, workers=2)\n"
            "fs = [pool.submit(sample(NASREC_SMALL, rng=i).to_json()) for i in range(2)]\n"
            "print(*pool.pool._processes, flush=True)\n"
            "import time; time.sleep(120)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    workers = [int(pid) for pid in driver.stdout.readline().split()]
    driver.stdout.close()
    assert len(workers) == 2
    time.sleep(3)  # the workers are up and evaluating
    driver.kill()
    driver.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.2)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_closing_a_pool_with_evaluations_in_flight_does_not_wait_for_them(tmp_path):
    """An interrupted search (Ctrl-C) closes its executor at once: the running evaluations' workers are
    terminated (nothing would log their results) instead of being waited for, and nothing is restarted."""
    evaluator = FormulaEvaluator(sleep=60)
    pool = ProcessPoolExecutor(evaluator.name, evaluator.config, workers=2)
    futures = [pool.submit(g.to_json()) for g in (sample(NASREC_SMALL, rng=i) for i in range(3))]
    time.sleep(3)  # the first two are running, the third waits
    workers = list(pool.pool._processes.values())
    start = time.perf_counter()
    pool.close()
    elapsed = time.perf_counter() - start
    pids = [w.pid for w in workers]
    deadline = time.time() + 10  # a worker close() missed sleeps on for a minute
    while time.time() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    assert elapsed < 15 and pids and not any(_running(pid) for pid in pids)
    assert not wait(futures, timeout=10).not_done and pool.restarts == 0  # cancelled, none resubmitted


def test_workers_that_keep_dying_stop_the_search_unlogged_and_a_rerun_resumes_it(tmp_path):
    (tmp_path / "kill").touch()
    evaluator = FormulaEvaluator(kill_file=str(tmp_path / "kill"), kill_once=False)
    pool = ProcessPoolExecutor(evaluator.name, evaluator.config, workers=2, max_restarts=1)
    with pytest.raises(WorkersLost, match=r"worker process died 2 times .* rerun the same command to resume"):
        try:
            run_search(RandomSearch(NASREC_SMALL, seed=4, budget=6), pool, tmp_path / "log.jsonl", parallel=2)
        finally:
            pool.close()
    assert read_jsonl(tmp_path / "log.jsonl", Evaluation) == []  # nothing logged as the genotypes' failure
    resumed = run_search(
        RandomSearch(NASREC_SMALL, seed=4, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "log.jsonl"
    )
    assert len(resumed) == 6 and all(r.score is not None for r in resumed)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_setup_error_stops_the_search_unlogged_instead_of_failing_every_genotype(tmp_path, workers):
    """A supernet missing where the evaluations run fails every genotype alike: the search stops with its message
    and logs nothing, so a rerun (once it is there) scores them all."""
    config = {"data": "sample:criteo", "supernet": str(tmp_path / "nope" / "checkpoint.pt")}
    executor = (
        InProcessExecutor(build_evaluator("supernet", config))
        if workers == 1
        else ProcessPoolExecutor("supernet", config, workers=workers)
    )
    with pytest.raises(UsageError, match=r"^supernet .*nope/checkpoint\.pt: .* does not exist \(train one with"):
        try:
            run_search(RandomSearch(NASREC_SMALL, seed=4, budget=6), executor, tmp_path / "log.jsonl", parallel=workers)
        finally:
            executor.close()
    assert read_jsonl(tmp_path / "log.jsonl", Evaluation) == []


def test_a_setup_error_while_a_pool_worker_builds_its_evaluator_is_that_error(tmp_path):
    """The full evaluator opens its data when built (the pool's initializer): a missing folder is its own
    one-line error, not a pool restarted until it reports lost workers."""
    pool = ProcessPoolExecutor("full", {"data": str(tmp_path / "no-such-data")}, workers=2)
    with pytest.raises(DataError, match=r"no-such-data: no such folder"):
        try:
            run_search(RandomSearch(NASREC_SMALL, seed=4, budget=4), pool, tmp_path / "log.jsonl", parallel=2)
        finally:
            pool.close()
    assert pool.restarts == 0 and read_jsonl(tmp_path / "log.jsonl", Evaluation) == []


def test_evolution_whose_every_evaluation_fails_stops_with_a_message_naming_the_first_error(tmp_path):
    strategy = RegularizedEvolution(NASREC_SMALL, seed=2, population=4, cycles=4, tournament=2, children=2)
    with pytest.raises(
        ValueError,
        match=r"log.jsonl: the strategy has nothing to ask, nothing is running; 4 of 4 evaluations failed "
        r"\(the first: RuntimeError: planned failure for \w+\); they stay in the log",
    ):
        run_search(
            strategy, InProcessExecutor(FormulaEvaluator(fail_digits="0123456789abcdef")), tmp_path / "log.jsonl"
        )


def test_genotypes_scored_in_another_log_are_logged_with_those_scores_and_not_evaluated_again(tmp_path):
    first = run_search(
        RandomSearch(NASREC_SMALL, seed=4, budget=6), InProcessExecutor(FormulaEvaluator()), tmp_path / "a.jsonl"
    )
    broken = InProcessExecutor(FormulaEvaluator(fail_digits="0123456789abcdef"))  # anything evaluated fails
    records = run_search(
        RandomSearch(NASREC_SMALL, seed=4, budget=10), broken, tmp_path / "b.jsonl", reuse={e.digest: e for e in first}
    )
    assert [r.digest for r in records[:6]] == [e.digest for e in first]
    assert [r.score for r in records[:6]] == [e.score for e in first] and {r.seconds for r in records[:6]} == {0.0}
    assert [r.index for r in records] == list(range(10)) and all(r.score is None for r in records[6:])


def test_a_budget_is_never_overshot_by_a_strategy_that_asks_a_whole_cycle_and_a_larger_one_extends_the_log(tmp_path):
    def evolution():  # each cycle asks 8 children at once, whatever the room
        return RegularizedEvolution(NASREC_SMALL, seed=2, population=4, cycles=5, tournament=2, children=8)

    evaluator = InProcessExecutor(FormulaEvaluator())
    assert len(run_search(evolution(), evaluator, tmp_path / "a.jsonl", budget=10)) == 10
    extended = run_search(evolution(), evaluator, tmp_path / "a.jsonl", budget=15)
    whole = run_search(evolution(), evaluator, tmp_path / "b.jsonl", budget=15)
    assert len(extended) == 15 and [r.digest for r in extended] == [r.digest for r in whole]


def test_an_evaluation_that_scores_nan_is_logged_as_a_failure_and_the_search_and_its_resume_go_on(tmp_path):
    def evolution():
        return RegularizedEvolution(NASREC_SMALL, seed=2, population=8, cycles=4, tournament=4, children=2)

    nan = InProcessExecutor(FormulaEvaluator(nan_digits="01"))
    records = run_search(evolution(), nan, tmp_path / "log.jsonl")
    failed = [r for r in records if r.score is None]
    assert failed and len(records) == 16 and {r.digest[-1] for r in failed} <= {"0", "1"}
    assert all(r.error == "no finite score: the evaluation's predictions were not finite" for r in failed)
    assert [r.digest for r in run_search(evolution(), nan, tmp_path / "log.jsonl")] == [r.digest for r in records]


def test_the_progress_bar_is_labelled_with_the_stage(tmp_path, monkeypatch):
    import nasrec.search.runner as runner

    labels = []

    class Bar:  # a progress bar that records what it is given
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def add_task(self, description, **fields):
            labels.append(description)

        def update(self, *args, **kwargs):
            pass

    monkeypatch.setattr(runner, "progress_bar", lambda enabled: Bar())
    strategy = RandomSearch(NASREC_SMALL, budget=2, seed=0)
    run_search(strategy, InProcessExecutor(FormulaEvaluator()), tmp_path / "r.jsonl", label="random baseline")
    run_search(
        RandomSearch(NASREC_SMALL, budget=2, seed=1), InProcessExecutor(FormulaEvaluator()), tmp_path / "s.jsonl"
    )
    assert labels == ["random baseline", "search"]
