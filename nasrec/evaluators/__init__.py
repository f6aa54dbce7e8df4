"""Evaluators score genotypes: supernet proxy, fine-tuned proxy (paper / fast recipes), full training."""

from nasrec.evaluators.base import EVALUATORS, Evaluator, Score, build_evaluator, register_evaluator
from nasrec.evaluators.full_train import FullTrain, FullTrainConfig
from nasrec.evaluators.proxy import FinetuneConfig, FinetunedProxy, ProxyConfig, SupernetProxy
from nasrec.evaluators.supernet_training import SupernetTrainingConfig, load_supernet, train_supernet
from nasrec.evaluators.training import Metrics, TrainConfig, Trainer, TrainingDiverged, evaluate

__all__ = [
    "EVALUATORS", "Evaluator", "FinetuneConfig", "FinetunedProxy", "FullTrain", "FullTrainConfig", "Metrics",
    "ProxyConfig", "Score", "SupernetProxy", "SupernetTrainingConfig", "TrainConfig", "Trainer", "TrainingDiverged",
    "build_evaluator", "evaluate", "load_supernet", "register_evaluator", "train_supernet",
]
