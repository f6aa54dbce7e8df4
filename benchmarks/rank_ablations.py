"""The ranking study's supernet variants: the main study's (Table 2's samplers and the schedules) and each
ablation's (`--ablation NAME` of benchmarks/ranking_study.py, whose help says what each measures)."""

from __future__ import annotations

from pathlib import Path

from nasrec.evaluators.rank_study_config import Finetune, SupernetVariant
from nasrec.evaluators.supernet_training import SUPERNET_RECIPE


def variants(supernet_epochs: float) -> dict[str, SupernetVariant]:
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    return {
        "any-connection": SupernetVariant(train=main),
        "single-path": SupernetVariant(sampler="single-path", train=main),
        "any-path": SupernetVariant(sampler="any-path", train=main),
        "any-connection-4ep": SupernetVariant(
            train=main.model_copy(update={"epochs": 4 * supernet_epochs}), finetune=("none", "fast")
        ),
        "any-connection-floor300": SupernetVariant(
            train=main.model_copy(update={"min_warmup_steps": 300}), finetune=("none", "fast")
        ),
    }


def dot_ablation(supernet_epochs: float, out: Path) -> dict[str, SupernetVariant]:
    import dot_unbalanced  # registers the plug-in operator

    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    space = dot_unbalanced.space(out / "nasrec-full-dot-unbalanced.json")
    return {
        "dot-balanced": SupernetVariant(train=main, finetune=("none", "fast")),
        "dot-unbalanced": SupernetVariant(
            train=main, space=str(space), op_map={"dot": dot_unbalanced.NAME}, finetune=("none", "fast")
        ),
    }


def centering_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """The any-path supernet trained on raw and on batch-centred logits, with two training seeds each, every one
    scored by inherited weights, `bias` recalibration and `fast` fine-tuning."""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    proxies: tuple[Finetune, ...] = ("none", "bias", "fast")
    return {
        f"any-path{'-centered' if center else ''}{f'-seed{seed}' if seed else ''}": SupernetVariant(
            sampler="any-path", train=main, finetune=proxies, center_logits=center, seed=seed or None
        )
        for center in (True, False)
        for seed in (0, 1)
    }


def untrained_ablation() -> dict[str, SupernetVariant]:
    """The any-path supernet after one step (lr 0.12 / 1,000: its initial weights, head at the base rate) with two
    seeds, scored like a trained one: what the proxies read from the architecture alone."""
    one_step = SUPERNET_RECIPE.model_copy(update={"epochs": 1e-9})  # rounds to 1 step
    return {
        "any-path-1step": SupernetVariant(
            sampler="any-path", train=one_step, finetune=("none", "bias", "fast", "paper")
        ),
        "any-path-1step-seed1": SupernetVariant(
            sampler="any-path", train=one_step, finetune=("bias", "fast", "paper"), seed=1
        ),
    }


def hot_centering_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """The any-path supernet on centred logits at the paper's peak learning rate (warm-up floor 100 steps instead
    of 1,000, safe once no gradient reaches a path's offset), for the study's epochs and for four times as many:
    does a supernet that learns more rank better?"""
    hot = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs, "min_warmup_steps": 100})
    return {
        "any-path-centered-hot": SupernetVariant(
            sampler="any-path", train=hot, finetune=("none", "bias", "fast", "paper"), center_logits=True
        ),
        "any-path-centered-hot-4ep": SupernetVariant(
            sampler="any-path",
            train=hot.model_copy(update={"epochs": 4 * supernet_epochs}),
            finetune=("none", "bias", "fast"),
            center_logits=True,
        ),
    }


def scale_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """Platt scaling of the inherited head (`scale`: the logits' scale and bias re-fitted) beside `bias` and
    `fast`, on the any-path supernet of the default schedule and on the centred one at the paper's peak rate."""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    proxies: tuple[Finetune, ...] = ("none", "bias", "scale", "fast")
    return {
        "any-path": SupernetVariant(sampler="any-path", train=main, finetune=proxies),
        "any-path-centered-hot": SupernetVariant(
            sampler="any-path",
            train=main.model_copy(update={"min_warmup_steps": 100}),
            finetune=proxies,
            center_logits=True,
        ),
    }


def standardised_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """The head re-fitted on standardised inputs (`fast-std`) beside the raw fit (`fast`), on the paper's
    supernet (single-operator any-connection), on the any-path and warm-up-floor-300 ones, and on an untrained
    any-path supernet (one step)."""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    proxies: tuple[Finetune, ...] = ("fast", "fast-std")
    return {
        "any-connection": SupernetVariant(train=main, finetune=proxies),
        "any-path": SupernetVariant(sampler="any-path", train=main, finetune=proxies),
        "any-connection-floor300": SupernetVariant(
            train=main.model_copy(update={"min_warmup_steps": 300}), finetune=proxies
        ),
        "any-path-1step": SupernetVariant(
            sampler="any-path", train=SUPERNET_RECIPE.model_copy(update={"epochs": 1e-9}), finetune=proxies
        ),
    }


def supernet_seeds_ablation(
    supernet_epochs: float,
    proxies: tuple[Finetune, ...] = ("fast-std",),
    kinds: tuple[str, ...] = ("any-connection", "any-path", "any-path-1step"),
    seeds: int = 3,
) -> dict[str, SupernetVariant]:
    """`fast-std` (and `proxies`) on the paper's supernet, the any-path one and the untrained any-path one (or
    those of `kinds`), each trained with `seeds` seeds: how much of a proxy's tau is the supernet's training
    seed, and what pooling the seeds' scores gains."""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    one_step = SUPERNET_RECIPE.model_copy(update={"epochs": 1e-9})  # rounds to 1 step
    known = {
        "any-connection": ("single-operator-any-connection", main),
        "any-path": ("any-path", main),
        "any-path-1step": ("any-path", one_step),
    }
    return {
        f"{name}{f'-seed{seed}' if seed else ''}": SupernetVariant(
            sampler=known[name][0], train=known[name][1], finetune=proxies, seed=seed or None
        )
        for name in kinds
        for seed in range(seeds)
    }


def paper_steps_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """The paper's fine-tuning with all its 500 steps (studies before commit ec9e3ea made one pass over the training
    rows: 24 steps on the bundled rows, 313 on the oracle data) beside `fast-std`, on the Table-2 samplers'
    supernets and the untrained any-path one."""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    proxies: tuple[Finetune, ...] = ("fast-std", "paper")
    return {
        "any-connection": SupernetVariant(train=main, finetune=proxies),
        "single-path": SupernetVariant(sampler="single-path", train=main, finetune=proxies),
        "any-path": SupernetVariant(sampler="any-path", train=main, finetune=proxies),
        "any-path-1step": SupernetVariant(
            sampler="any-path", train=SUPERNET_RECIPE.model_copy(update={"epochs": 1e-9}), finetune=proxies
        ),
    }


def distillation_ablation(supernet_epochs: float) -> dict[str, SupernetVariant]:
    """The any-path supernet trained with in-place distillation (each step the whole supernet on the labels, then
    the sampled path on its predictions; BigNAS's sandwich without the smallest net), scored by inherited weights,
    `fast-std` and `paper`: does a supernet whose paths learn from a less noisy target rank better?"""
    main = SUPERNET_RECIPE.model_copy(update={"epochs": supernet_epochs})
    return {
        "any-path-distill": SupernetVariant(
            sampler="any-path", train=main, finetune=("none", "fast-std", "paper"), distill=True
        ),
    }


# ablation -> (a, b): tau(a) - tau(b) per supernet
PAIRED = {
    "standardised-head": ("fast-std", "fast"),
    "paper-steps": ("paper", "fast-std"),
    "paper-seeds": ("paper", "fast-std"),
}


ABLATIONS = {  # name -> variants, from the command line's arguments
    "dot-balancing": lambda args: dot_ablation(args.supernet_epochs, args.out),
    "logit-centering": lambda args: centering_ablation(args.supernet_epochs),
    "untrained-supernet": lambda args: untrained_ablation(),
    "hot-centering": lambda args: hot_centering_ablation(args.supernet_epochs),
    "scale-recalibration": lambda args: scale_ablation(args.supernet_epochs),
    "standardised-head": lambda args: standardised_ablation(args.supernet_epochs),
    "supernet-seeds": lambda args: supernet_seeds_ablation(args.supernet_epochs),
    "paper-seeds": lambda args: supernet_seeds_ablation(args.supernet_epochs, ("fast-std", "paper")),
    "paper-steps": lambda args: paper_steps_ablation(args.supernet_epochs),
    "in-place-distillation": lambda args: distillation_ablation(args.supernet_epochs),
    "untrained-seeds": lambda args: supernet_seeds_ablation(args.supernet_epochs, kinds=("any-path-1step",), seeds=6),
}
SEED_ABLATIONS = ("supernet-seeds", "paper-seeds", "untrained-seeds")
