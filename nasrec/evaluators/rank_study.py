"""Ranking-fidelity study: how well each proxy orders sampled genotypes like a denoised reference does — each
genotype trained from scratch with early stopping, averaged over several seeds (on oracle data: its regret).

    out/supernets/LABEL/      one supernet per variant (path sampler, schedule, operator map), resumable
    out/scores.jsonl          one StudyScore per (label, genotype), appended as they finish (resumable)
    out/reference.jsonl       the reference table: genotype, per-seed scratch runs (curves), their mean
                              (both formats: nasrec.evaluators.study_records)
    out/results.json          RankStudyResult: every proxy's agreement with the reference, the reference's own
                              seed-to-seed agreement (the ceiling any proxy can reach)

Work runs in an order that makes a partial study useful: the trivial proxies, the first supernet variant's
cheap proxies (inherited weights, `fast`), the reference genotype by genotype (every seed of one before the
next, so a study stopped early has complete references for the genotypes it reached), the first variant's
`paper` fine-tuning, then the other supernet variants. Two processes can share the work: one trains the
reference, another the proxies (`reference=False`), and `reuse` imports the first one's records into the
second's log (read without a lock: its torn last line, if any, is skipped).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasrec.errors import UsageError
from nasrec.evaluators import scalars
from nasrec.evaluators.base import Evaluator, build_evaluator
from nasrec.evaluators.data_ref import open_data
from nasrec.evaluators.distributed import resolve_device
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.rank_study_config import TRIVIAL, RankStudyConfig
from nasrec.evaluators.rank_summary import RankStudyResult, summarize
from nasrec.evaluators.study_records import REFERENCE, StudyScore, reference_records, write_reference_table
from nasrec.evaluators.supernet_training import (
    train_supernet,
    training_report,
)
from nasrec.genotype import Genotype, get_space, sample
from nasrec.state import RunLock, Stage, atomic_write_text, pin_config, read_jsonl, same_place


def rank_study(
    config: RankStudyConfig,
    out: str | Path,
    progress: bool = False,
    run: bool = True,
    reference: bool = True,
    reuse: str | Path | Sequence[str | Path] | None = None,
    variants: Sequence[str] | None = None,
    shard: tuple[int, int] = (0, 1),
    retrain: Collection[tuple[str, str]] = (),
    reuse_proxies: str | Path | Sequence[str | Path] | None = None,
    reuse_reference: str | Path | None = None,
) -> RankStudyResult:
    """Run (or resume) the study in `out`; `run=False` only summarises what `out/scores.jsonl` holds so far;
    `reference=False` trains no reference; `reuse`: other studies' logs (the same genotypes) whose trivial-proxy
    and reference records `out` lacks are copied first; `variants`: train and score only these supernet variants,
    in this order (default: all, the main one first); `shard=(k, n)`: train the reference of every n-th genotype
    from the k-th only (processes in their own folders split a reference; `reuse` merges them); `retrain`:
    (label, digest) records of `reuse` not copied, so that they are trained again; `reuse_proxies`: logs of
    studies with this study's supernet variants whose proxy records are copied too (e.g. to summarise the
    committed proxies against a new reference); `reuse_reference`: a reference table (a study's
    `reference.jsonl`, e.g. a committed one) whose runs of this study's reference seeds are copied, so that only
    the runs it lacks are trained (its recipe is not recorded in the table: it must be this study's). Raises
    `RunFolderBusy` when another process runs on the folder."""
    out = Path(out)
    get_space(config.space), open_data(config.data), resolve_device(config.device)  # checked before any write
    sources, proxy_sources = _paths(reuse), _paths(reuse_proxies)
    for name, paths in (("reuse", sources), ("reuse_proxies", proxy_sources)):
        for source in paths:
            if not source.is_file():
                raise UsageError(f"{name}: {source} is not a file (a rank study's scores.jsonl)")
    reused = [_check_data(source, read_jsonl(source, StudyScore), config.data) for source in sources]
    reused_proxies = [_check_data(source, read_jsonl(source, StudyScore), config.data) for source in proxy_sources]
    table: list[StudyScore] = []
    if reuse_reference is not None:
        if not Path(reuse_reference).is_file():
            raise UsageError(f"reuse_reference: {reuse_reference} is not a file (a rank study's reference.jsonl)")
        examples = len(open_data(config.data).split("valid").label)  # the reference scores on `valid`
        table = reference_records(reuse_reference, config.data, config.seed, config.reference_seeds, examples)
    k, n = shard
    if not 0 <= k < n:
        raise UsageError(f"shard: {k}/{n} is not a shard (k/n with 0 <= k < n)")
    unknown = [label for label in variants or () if label not in config.supernets]
    if unknown:
        raise UsageError(f"variants: no supernet variant {unknown[0]!r} in this study ({', '.join(config.supernets)})")
    with RunLock(out, "rank-study folder"):
        # studies before commit ec9e3ea ran `paper` for one pass over the training rows
        pin_config(out / "config.json", config, what="rank study", ignore=("device",), absent={"paper_max_passes": 1})
        genotypes = distinct_samples(config)
        stage = Stage(out / "scores.jsonl", StudyScore, key=lambda s: (s.label, s.digest))
        digests = {g.digest() for g in genotypes}
        for records in reused:
            _import(stage, records, digests, (*TRIVIAL, REFERENCE), set(retrain))
        for records in reused_proxies:
            same = [r for r in records if _same_paper(r, config.paper_max_passes)]
            _import(stage, same, digests, tuple(config.supernets))
        _import(stage, table, digests, (REFERENCE,), set(retrain))  # a reference table's runs, as a log's
        supernet_seconds: dict[str, float] = _load_seconds(out)

        def variant(label: str, finetunes: tuple[str, ...] | None = None) -> None:
            """Train (or resume) one supernet and score its proxies: `finetunes` of them (None: all)."""
            folder = out / "supernets" / label
            start = time.perf_counter()
            train_supernet(
                config.supernet_config(label),
                folder,
                progress=progress,
                device=config.device,
                tag=scalars.tag("supernet", label),
            )
            supernet_seconds.setdefault(label, round(time.perf_counter() - start, 2))
            atomic_write_text(out / "supernet_seconds.json", json.dumps(supernet_seconds, indent=2))
            for proxy_label, (name, cfg) in config.proxies(label, folder / "checkpoint.pt").items():
                if finetunes is None or proxy_label.rsplit("/", 1)[1] in finetunes:
                    _score(stage, proxy_label, name, cfg, genotypes, config.supernets[label].op_map)

        if run:
            for name in TRIVIAL:
                _score(stage, name, name, {"data": config.data}, genotypes)
            main = next(iter(config.supernets))
            order = list(config.supernets) if variants is None else list(variants)
            if main in order:  # the main proxies first: a study stopped early can already be summarised
                variant(main, ("none", "fast"))
            if reference:
                _reference(stage, config, genotypes[k::n])
            for label in order:  # finished supernets and scores are skipped
                variant(label)
        result = summarize(config, stage.records, genotypes, supernet_seconds)
        reports = {label: training_report(out / "supernets" / label) for label in config.supernets}
        diverged = {label: r["divergence"]["count"] for label, r in reports.items() if r is not None}
        result = result.model_copy(update={"supernet_diverged_steps": diverged})
        for proxy, agreement in result.agreement.items():
            for metric in ("kendall_tau", "spearman_rho", "pearson_r", "top_k_overlap"):
                scalars.add_scalar(scalars.tag("rank", proxy, metric), getattr(agreement, metric), len(genotypes))
        atomic_write_text(out / "results.json", result.model_dump_json(indent=2))
        write_reference_table(config.data, config.reference_seeds, stage.records, genotypes, out / "reference.jsonl")
        return result


def _score(
    stage: Stage[tuple[str, str], StudyScore],
    label: str,
    name: str,
    cfg: dict[str, Any],
    genotypes: list[Genotype],
    op_map: dict[str, str] | None = None,
) -> None:
    """One genotype at a time, each logged as it finishes: a killed study loses at most one evaluation. The
    evaluator (a supernet load) is built only when there is work."""
    if all((label, g.digest()) in stage for g in genotypes):
        return
    make = _maker(label, build_evaluator(name, cfg), op_map)
    stage.run(genotypes, key=lambda g: (label, g.digest()), make=make)


def _paths(logs: str | Path | Sequence[str | Path] | None) -> list[Path]:
    """One log or several as a list of paths."""
    if logs is None:
        return []
    return [Path(logs)] if isinstance(logs, (str, Path)) else [Path(log) for log in logs]


def _import(
    stage: Stage[tuple[str, str], StudyScore],
    records: Iterable[StudyScore],
    digests: set[str],
    kinds: tuple[str, ...],
    skip: Collection[tuple[str, str]] = (),
) -> None:
    """Append the `records` (another study's log, a reference table's runs) of these genotypes and kinds (a
    label's part before "/") that `stage` lacks, but not those in `skip`."""
    for record in records:
        key = (record.label, record.digest)
        wanted = record.label.split("/")[0] in kinds and record.digest in digests and key not in skip
        if wanted and key not in stage:
            stage.add(record)


def _check_data(source: Path, records: Iterable[StudyScore], data: str) -> list[StudyScore]:
    """`records` as a list; a `UsageError` when one was scored on other data than the study's (digests do not
    depend on the data: the bundled rows' and the oracle study's genotypes are the same fifty)."""
    out = list(records)
    for record in out:
        theirs = record.score.config.get("data") if record.score is not None else None
        if theirs is not None and not same_place(theirs, data):
            raise UsageError(f"{source}: {record.label} was scored on data {theirs!r}, this study's is {data!r}")
    return out


def _same_paper(record: StudyScore, max_passes: int | None) -> bool:
    """False for a `paper` record whose passes differ from the study's (one pass before the field existed)."""
    if not record.label.endswith("/paper"):
        return True
    return record.score is not None and record.score.config.get("max_passes", 1) == max_passes


def _reference(stage: Stage[tuple[str, str], StudyScore], config: RankStudyConfig, genotypes: list[Genotype]) -> None:
    """Every reference seed of one genotype before the next genotype; evaluators built when first needed."""
    labels = [f"{REFERENCE}/seed{i}" for i in range(config.reference_seeds)]
    makers: dict[str, Callable[[Genotype], StudyScore]] = {}
    for g in genotypes:
        for i, label in enumerate(labels):
            if (label, g.digest()) not in stage:
                if label not in makers:
                    makers[label] = _maker(label, build_evaluator(*config.reference(i)))
                stage.add(makers[label](g))


def _maker(label: str, evaluator: Evaluator, op_map: dict[str, str] | None = None) -> Callable[[Genotype], StudyScore]:
    def make(g: Genotype) -> StudyScore:
        try:
            score, error = evaluator.evaluate([rename_ops(g, op_map) if op_map else g])[0], None
        except TrainingDiverged as exc:  # one diverged training is a finding, not the end of the study
            score, error = None, str(exc)
        return StudyScore(label=label, digest=g.digest(), genotype=g, score=score, error=error)

    return make


def _load_seconds(out: Path) -> dict[str, float]:
    path = out / "supernet_seconds.json"
    return json.loads(path.read_text()) if path.exists() else {}


def rename_ops(genotype: Genotype, op_map: dict[str, str]) -> Genotype:
    """`genotype` with operators renamed (e.g. the unbalanced Dot-Product of an ablation)."""
    doc = genotype.to_dict()
    for block in doc["blocks"]:
        for branch in ("dense", "sparse"):
            block[branch]["ops"] = [op_map.get(op, op) for op in block[branch]["ops"]]
    return Genotype.from_dict(doc)


def distinct_samples(config: RankStudyConfig) -> list[Genotype]:
    out: dict[str, Genotype] = {}
    seed = config.seed
    while len(out) < config.n:
        g = sample(config.space, config.sampler, np.random.default_rng([config.seed, seed]))
        out.setdefault(g.digest(), g)
        seed += 1
    return list(out.values())
