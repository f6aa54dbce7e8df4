"""Data: FeatureSpec, raw readers (Criteo, Avazu, KDD 2012, CSV), the prepared cache, split, batching,
bundled real samples, synthetic data, and the encoder of new raw rows."""

from nasrec.data.batching import Batch, BatchDataset, iter_batches
from nasrec.data.errors import BadRowReport, DataError
from nasrec.data.preparation import cache_root, prepare
from nasrec.data.prepared import DataSplit, PreparedData, PrepMeta
from nasrec.data.row_encoder import RowEncoder
from nasrec.data.samples import SAMPLES, load_sample
from nasrec.data.spec import FeatureSpec, fold_index, preset
from nasrec.data.split import SPLIT_SEED, split_indices, stratified_folds
from nasrec.data.synthetic import PlantedTeacher, make_synthetic, write_criteo_tsv

batches = iter_batches

__all__ = [
    "SAMPLES",
    "SPLIT_SEED",
    "BadRowReport",
    "Batch",
    "BatchDataset",
    "DataError",
    "DataSplit",
    "FeatureSpec",
    "PlantedTeacher",
    "PrepMeta",
    "PreparedData",
    "RowEncoder",
    "batches",
    "cache_root",
    "fold_index",
    "iter_batches",
    "load_sample",
    "make_synthetic",
    "prepare",
    "preset",
    "split_indices",
    "stratified_folds",
    "write_criteo_tsv",
]
