"""What the run report reads from a run folder, leniently: missing files give empty values, broken ones a
listed problem, and nothing in the folder is ever changed."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nasrec.errors import UsageError
from nasrec.evaluators.base import Score
from nasrec.evaluators.kept_weights import holds_weights_of
from nasrec.genotype.errors import GenotypeError
from nasrec.genotype.io import load
from nasrec.genotype.schema import Genotype
from nasrec.records import Evaluation, FinalResult, RunPaths, Summary, TopKResult
from nasrec.state import scan_jsonl
from nasrec.viz.render import drawn_digest
from nasrec.viz.report_html import _duration, _f, _si, _sort_key

M = TypeVar("M", bound=BaseModel)


def open_run(run_dir: str | Path) -> RunPaths:
    """The paths of the run folder `run_dir`; `UsageError` when it is no folder or holds no run of `nasrec search`."""
    paths = RunPaths(run_dir)
    if not paths.root.is_dir():
        raise UsageError(f"run folder {str(paths.root)!r} does not exist or is not a folder")
    if not paths.is_run():
        raise UsageError(
            f"{str(paths.root)!r} is not a run folder of `nasrec search` (no run config.json); nothing to report"
        )
    return paths


def proxy_label(score: Score) -> str:
    """The proxy that produced `score`, as the report names it: `proxy (finetune, fast recipe)`."""
    recipe = score.config.get("recipe")
    return f"proxy ({score.evaluator}" + (f", {recipe} recipe)" if recipe else ")")


def score_of(e: Evaluation) -> Score:
    assert e.score is not None
    return e.score


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def proxy_value(score: Score) -> float:
    """A proxy score's figure: its log loss, or for an evaluator that reports none (`params`, `flops`) the value
    the search minimised (`Score.value`: minus the size); nan if neither."""
    if score.log_loss is not None:
        return score.log_loss
    return score.objective if score.objective is not None else math.nan


def proxy_loss(e: Evaluation) -> float:
    """A scored evaluation's proxy figure (`proxy_value`)."""
    return proxy_value(score_of(e))


def proxy_figure(score: Score) -> str:
    """What `proxy_value` of `score` is, for labels: "log loss", or "score" (an evaluator without one)."""
    return "log loss" if score.log_loss is not None else "score"


def trained_topk(topk: list[TopKResult]) -> list[tuple[TopKResult, float, float]]:
    """(record, proxy log loss, full-training log loss) of the top-k candidates that trained (a diverged one has
    no full score); nan where a score has no log loss."""
    return [(r, proxy_value(r.proxy), _nan(r.full.log_loss)) for r in topk if r.full is not None]


def strategy_name(config: Any) -> str:
    """The run config's search strategy (`evolution`, `random`, a plug-in's name), or "search" if unreadable."""
    try:
        return str(config["config"]["strategy"]["name"])
    except (KeyError, TypeError):
        return "search"


def trained_note(topk: list[TopKResult]) -> str:
    """How many top-k candidates trained, and how many diverged (no full score), for a note."""
    trained = sum(r.full is not None for r in topk)
    diverged = len(topk) - trained
    return f"have {trained}" + (f"; {diverged} of {len(topk)} diverged" if diverged else "")


class RunData:
    """Everything the report shows, read leniently: missing files give empty values, broken ones a problem."""

    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self.problems: list[str] = []
        self.config: Any = self._json(paths.config)
        self.evaluations = sorted(self._records(paths.evaluations, Evaluation), key=lambda e: e.index)
        self.random_evaluations = sorted(self._records(paths.random_evaluations, Evaluation), key=lambda e: e.index)
        self.topk = sorted(self._records(paths.topk, TopKResult), key=lambda r: r.rank)
        self.final = self._records(paths.final, FinalResult)
        self.summary = self._summary()
        if self.summary is not None:
            self._this_run(self.summary)
        self.scored = [e for e in self.evaluations if e.score is not None]
        self.best, self.best_note = self._best()
        self.best_digest = self.best.digest() if self.best is not None else None
        self.best_svg = self._best_svg()

    def _this_run(self, summary: Summary) -> None:
        """Keep the records of the run `summary` is of: a run extended (a larger budget on the same folder) leaves
        the earlier run's top-k candidates and final models in the logs. The top-k by the summary's list, ranked as
        it ranks them (a summary from before that list keeps every record); the final models by its results."""
        if summary.topk:
            by_digest = {r.digest: r for r in self.topk}
            self.topk = [
                by_digest[d].model_copy(update={"rank": rank})
                for rank, d in enumerate(summary.topk, start=1)
                if d in by_digest
            ]
        current = {(r.name, r.digest) for r in summary.results}
        logged = [r for r in self.final if (r.name, r.digest) in current]
        self.final = logged if len(logged) == len(current) else list(summary.results)

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.paths.root).as_posix()
        except ValueError:
            return str(path)

    def _read(self, path: Path) -> bytes | None:
        if not path.exists():
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            self.problems.append(f"{self.rel(path)}: cannot read ({exc.strerror or exc})")
            return None

    def _json(self, path: Path) -> Any:
        raw = self._read(path)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.problems.append(f"{self.rel(path)}: not valid JSON ({exc})")
            return None

    def _records(self, path: Path, model: type[M]) -> list[M]:
        raw = self._read(path)
        if raw is None:
            return []
        scan = scan_jsonl(raw, model)
        records, bad = scan.records, list(scan.bad_lines)
        if scan.torn_at is not None:
            bad.append(raw[: scan.torn_at].count(b"\n") + 1)
        if bad:
            where = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
            self.problems.append(
                f"{self.rel(path)}: skipped {len(bad)} line(s) that are not valid "
                f"{model.__name__} records (line {where}); a last line may still be being written"
            )
        return records

    def _summary(self) -> Summary | None:
        raw = self._read(self.paths.summary)
        if raw is None:
            return None
        try:
            return Summary.model_validate_json(raw)
        except ValidationError as exc:
            self.problems.append(
                f"{self.rel(self.paths.summary)}: not a valid Summary ({exc.errors(include_url=False)[0]['msg']})"
            )
            return None

    def _best(self) -> tuple[Genotype | None, str]:
        """The best genotype and where it comes from: best_genotype.json, the summary, else the best proxy."""
        path = self.paths.best_genotype
        if path.exists():
            try:
                genotype = load(path)
                return genotype, f"NASRecNet, the run's pick ({self.rel(path)})"
            except GenotypeError as exc:
                why = str(exc).removeprefix(f"{path}: ")  # load's errors name the file: named once, relative
                self.problems.append(f"{self.rel(path)}: not a valid genotype ({why})")
        if self.summary is not None:
            records: list[FinalResult | TopKResult | Evaluation] = [*self.final, *self.topk, *self.evaluations]
            for rec in records:
                if rec.digest == self.summary.best_digest:
                    return rec.genotype, "NASRecNet, the run's pick (summary.json)"
        if self.scored:
            best = min(self.scored, key=lambda e: (_sort_key(proxy_loss(e)), e.index))
            return best.genotype, "best proxy score so far: the run has not picked its final architecture yet"
        return None, ""

    def _best_svg(self) -> bytes | None:
        """The run's `best_genotype.svg` if it drew the best genotype (the digest in its title), else None; a
        drawing of another genotype (say, left from another run) is listed as a problem and not used."""
        if self.best_digest is None:
            return None
        raw = self._read(self.paths.best_diagram)
        if raw is None:
            return None
        digest = drawn_digest(raw.decode("utf-8", errors="replace"))
        if digest == self.best_digest:
            return raw
        drew = f"digest {digest}" if digest is not None else "no digest in its title"
        self.problems.append(
            f"{self.rel(self.paths.best_diagram)}: not a diagram of the best genotype ({drew}, the best is "
            f"{self.best_digest}); not used"
        )
        return None

    def scores_of(self, digest: str) -> dict[str, Score]:
        """The best candidate's scores by stage: proxy (best of its evaluations), full (top-k), test (final)."""
        out: dict[str, Score] = {}
        proxy = [score_of(e) for e in self.scored if e.digest == digest]
        if proxy:
            out["proxy"] = min(proxy, key=lambda s: _sort_key(proxy_value(s)))
        for r in self.topk:
            if r.digest == digest:
                if r.full is not None:
                    out["full"] = r.full
                break
        for f in self.final:
            if f.digest == digest:
                out["test"] = f.test
                if f.kind == "nasrec":
                    break
        return out


def overview_facts(run: RunData, code: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """The report's first facts: evaluations, the best proxy score, the best architecture, stage counts and
    time; `code` marks up a digest (Markdown's backticks)."""
    failed = len(run.evaluations) - len(run.scored)
    facts = [("evaluations", f"{len(run.evaluations)} ({len(run.scored)} scored, {failed} failed)")]
    if run.scored:
        best = min(run.scored, key=lambda e: (_sort_key(proxy_loss(e)), e.index))
        where = f"evaluation {best.index}, digest {code(best.digest)}"
        facts.append((f"best proxy {proxy_figure(score_of(best))}", f"{_f(proxy_loss(best), 5)} ({where})"))
    if run.best_digest:
        facts.append(("best architecture", f"{code(run.best_digest)}: {run.best_note}"))
    if run.topk:
        facts.append(("top-k trained from scratch", str(len(run.topk))))
    if run.final:
        facts.append(("final models on test", str(len(run.final))))
    if run.summary is not None:
        facts.append(("total stage time", _duration(sum(run.summary.stage_seconds.values()))))
    return facts


def best_facts(run: RunData, digest: str) -> list[tuple[str, str]]:
    """The best architecture's facts (after its digest): source, space, blocks, cost, its score per stage, and
    its trained weights where the final stage kept them."""
    g = run.best
    assert g is not None
    scores = run.scores_of(digest)
    cost = next((s for s in (scores.get(k) for k in ("test", "full", "proxy")) if s and s.flops is not None), None)
    params = next((s.params for s in scores.values() if s.params is not None), None)
    facts = [
        ("source", run.best_note),
        ("space", g.space or "(none)"),
        ("blocks", f"{g.num_blocks} ({len(g.active_blocks())} used)"),
        ("FLOPs", _si(cost.flops) if cost else "n/a"),
        ("dense params", _si(params)),
    ]
    labels = {"full": "full training (validation)", "test": "test"}
    for stage in ("proxy", "full", "test"):
        if stage in scores:
            s = scores[stage]
            label = proxy_label(s) if stage == "proxy" else labels[stage]
            facts.append((label, f"log loss {_f(s.log_loss, 5)} · AUC {_f(s.auc, 4)}"))
    if holds_weights_of(run.paths.best_weights, g):  # the final stage kept its trained model
        facts.append(("trained weights", f"{run.rel(run.paths.best_weights)} (nasrec export --weights)"))
    return facts


def diverged_note(run: RunData) -> str:
    """The final table's note on the models the run left out (every training try diverged), "" for none."""
    left = run.summary.diverged if run.summary is not None else []
    return f" Left out, every training try diverged: {', '.join(d.name for d in left)}." if left else ""


FINAL_HEAD = ["name", "kind", "digest", "test log loss", "± (seeds)", "test AUC"]
FINAL_HEAD += ["NASRecNet − model: log loss [95% CI]", "AUC [95% CI]", "FLOPs", "dense params"]
TOPK_HEAD = ["rank", "digest", "proxy log loss", "proxy AUC", "full log loss", "full AUC", "FLOPs", "dense params"]

SIZE_NAMES = {"flops": "FLOPs per example", "params": "dense params"}
"""How the report names the size objectives and budgets (`Score.params` counts no embedding parameters)."""


def size_name(objective: str) -> str:
    """`flops` -> "FLOPs per example", `params` -> "dense params" (another name as it is)."""
    return SIZE_NAMES.get(objective, objective)


def budgets_text(run: RunData) -> str:
    """The budgets the run applied ("FLOPs per example at most 60.00 k, ...") and the proposals they rejected."""
    summary = run.summary
    assert summary is not None
    limits = ", ".join(f"{size_name(k.removeprefix('max_'))} at most {_si(v)}" for k, v in summary.limits.items())
    return f"Budgets: {limits or 'none'}; {summary.rejected} proposals over the budgets (never scored, never trained)."


def front_rows(run: RunData) -> tuple[list[str], list[list[str]]]:
    """The Pareto front table of a run with several objectives: its head and rows (the digest first)."""
    summary = run.summary
    assert summary is not None
    sizes = summary.objectives[1:]
    head = ["digest", f"proxy {front_figure(run)}", *map(size_name, sizes), "from scratch (valid log loss)"]
    rows = [
        [m.digest, _f(m.values["logloss"], 5), *(_si(m.values[o]) for o in sizes), _f(m.full_log_loss, 5)]
        for m in summary.front
    ]
    return head, rows


def front_figure(run: RunData) -> str:
    """What the front's first objective is (`proxy_figure` of the run's scores): "log loss", or "score"."""
    return proxy_figure(score_of(run.scored[0])) if run.scored else "log loss"


def final_rows(run: RunData) -> list[tuple[FinalResult, list[str]]]:
    """The final table's rows (cells as FINAL_HEAD), best test log loss first."""
    comparisons = run.summary.comparisons if run.summary is not None else {}
    rows = []
    for f in sorted(run.final, key=lambda f: (_sort_key(f.test.log_loss), f.name)):
        c = comparisons.get(f.name)
        std = f.test.log_loss_std
        spread = _f(std, 4) if std is not None and len(f.test.runs) != 1 else ""  # one seed: no spread to show
        cells = [f.name, f.kind, f.digest, _f(f.test.log_loss, 5), spread]
        cells += [_f(f.test.auc, 4), str(c.log_loss) if c else "", str(c.auc) if c else ""]
        rows.append((f, [*cells, _si(f.test.flops), _si(f.test.params)]))
    return rows
