"""A small search run as its own process (for the kill-and-resume test): python -m tests.search.search_script LOG OUT"""

import json
import sys

from nasrec.genotype import NASREC_FULL
from nasrec.search.evolution import RegularizedEvolution
from nasrec.search.executors import InProcessExecutor
from nasrec.search.runner import run_search
from tests.search.formula import FormulaEvaluator


def main(log: str, out: str, sleep: float) -> None:
    strategy = RegularizedEvolution(NASREC_FULL, seed=7, population=10, cycles=8, tournament=5, children=3)
    run_search(strategy, InProcessExecutor(FormulaEvaluator(sleep=sleep)), log, parallel=2, seed=7)
    best, score = strategy.best()
    result = {"population": [[g, s] for g, s in strategy.population], "best": best.digest(), "score": score}
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
