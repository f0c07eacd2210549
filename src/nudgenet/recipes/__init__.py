"""Ready-made pieces for the command line, by job: named data sets and their loading and
splitting (:mod:`.datasets`), the task their targets are for (:mod:`.tasks`), MLPs, losses and
optimisers by name (:mod:`.builders`), and the training record saved in a model file
(:mod:`.record`)."""

from .builders import (
    ACTIVATIONS,
    DEFAULT_LOSSES,
    LOSSES,
    OPTIMIZERS,
    build_mlp,
    build_optimizer,
    loss_by_class_name,
    parse_layers,
    resolve_loss,
)
from .datasets import (
    DATASETS,
    DEFAULT_SAMPLES,
    DEFAULT_TEST_SIZE,
    Dataset,
    DatasetRecord,
    Rows,
    Source,
    Split,
    file_record,
    load_dataset,
    record_for,
)
from .record import TrainingRecord, rows_checksum
from .tasks import AUTO_MAX_CLASSES, AUTO_MIN_CLASS_ROWS, TASKS

__all__ = [
    "ACTIVATIONS",
    "AUTO_MAX_CLASSES",
    "AUTO_MIN_CLASS_ROWS",
    "DATASETS",
    "DEFAULT_LOSSES",
    "DEFAULT_SAMPLES",
    "DEFAULT_TEST_SIZE",
    "LOSSES",
    "OPTIMIZERS",
    "TASKS",
    "Dataset",
    "DatasetRecord",
    "Rows",
    "Source",
    "Split",
    "TrainingRecord",
    "rows_checksum",
    "build_mlp",
    "build_optimizer",
    "file_record",
    "load_dataset",
    "loss_by_class_name",
    "parse_layers",
    "record_for",
    "resolve_loss",
]
