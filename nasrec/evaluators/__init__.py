"""Evaluators score genotypes: supernet proxy, fine-tuned proxy (paper / fast recipes), full training from
scratch (early-stopped, over seeds), and the trivial size proxies `params` and `flops`."""

from nasrec.evaluators.base import EVALUATORS, Evaluator, Score, SeedRun, build_evaluator, register_evaluator
from nasrec.evaluators.full_train import FullTrain, FullTrainConfig, Prediction
from nasrec.evaluators.guard import TrainingDiverged
from nasrec.evaluators.proxy import FinetuneConfig, FinetunedProxy, ProxyConfig, SupernetProxy
from nasrec.evaluators.supernet_training import SupernetTrainingConfig, load_supernet, train_supernet
from nasrec.evaluators.training import Metrics, TrainConfig, Trainer, evaluate
from nasrec.evaluators.trivial import FlopsProxy, ParamsProxy

__all__ = [
    "EVALUATORS",
    "Evaluator",
    "FinetuneConfig",
    "FinetunedProxy",
    "FlopsProxy",
    "FullTrain",
    "FullTrainConfig",
    "Metrics",
    "ParamsProxy",
    "Prediction",
    "ProxyConfig",
    "Score",
    "SeedRun",
    "SupernetProxy",
    "SupernetTrainingConfig",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "build_evaluator",
    "evaluate",
    "load_supernet",
    "register_evaluator",
    "train_supernet",
]
