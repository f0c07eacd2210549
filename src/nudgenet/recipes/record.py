"""What ``nudgenet train`` saves in a model file's metadata, written and read in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..data.sparse_rows import crc32
from ..errors import DataError, ModelFileError
from ..metrics import METRICS
from .builders import loss_by_class_name
from .datasets import DEFAULT_SAMPLES, DEFAULT_TEST_SIZE

# The held-out score saved with a model, per task: a metric of nudgenet.metrics.METRICS, whose
# higher_is_better says which score beats another (a tie: the held-out loss, TrainingRecord.beats).
SCORES = {"classification": "accuracy", "regression": "rmse"}
SCORE_TIE = 1e-6  # relative: held-out scores closer than this are equal (float32 rounding)

# The fields that decide which rows a model is scored on (and with which metric, by the task):
# two scores compare only when the records agree on all of them.
HELD_OUT = ("dataset", "data_dir", "labels", "label_column", "test_size", "seed", "samples", "task")
# The fields naming a data file's columns that are no features: two runs of other columns are
# not compared (a model trained on an ID column would be kept over one trained without it), and
# their rows' checksums differ (other features) although the file did not change.
COLUMNS = ("ignore_columns", "weight_column")
# The fields that describe the data set a model was trained on, its split and its score there:
# a record of no data set (an estimator's, fitted on arrays) has none of them to tell.
TRAINING_DATA = (*(name for name in HELD_OUT if name != "task"), "rows_checksum", "score_metric",
                 "score", "held_out_loss", *COLUMNS)  # fmt: skip


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained: the data set and split to rebuild its held-out rows, the task
    and loss to score it with, the class names to print, and its score on those rows (which
    ``nudgenet train`` compares before it replaces a model file).  Each default is what a model file
    without that key means (one written before the key existed, or by ``ng.save`` with metadata
    of your own); keys this class does not know are ignored.  ``task`` and ``loss`` have none
    (None: not recorded): every ``nudgenet train`` has written both, as ``est.save`` does, so a
    file without them was saved with metadata of its own, and :meth:`of` refuses it rather
    than guess what its outputs mean."""

    dataset: str | None = None  # a name in recipes.DATASETS, or a file's absolute path
    data_dir: str | None = None  # absolute
    labels: str | None = None  # an IDX labels file, absolute
    label_column: int | str | None = None  # a CSV file's label column: its name, or its index
    # a CSV file's columns that are no features, named so too: ignored, and the rows' weights
    ignore_columns: tuple[int | str, ...] = ()
    weight_column: int | str | None = None
    task: str | None = None  # "classification" or "regression"
    loss: str | None = None  # the loss class's name
    class_names: tuple[str, ...] = ()
    # the CSV header's feature columns (an estimator's feature_names_in_), in the model's order
    feature_names: tuple[str, ...] = ()
    test_size: float = DEFAULT_TEST_SIZE
    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    # a data file's rows as split (rows_checksum): None for a named data set or an older file
    rows_checksum: int | None = None
    score_metric: str | None = None  # the metric of ``score``: SCORES[task]
    score: float | None = None  # the model's score on its held-out rows; None: not scored
    held_out_loss: float | None = None  # its loss on those rows; None: not recorded (older file)

    def to_dict(self) -> dict:
        """The JSON-able metadata to save with the model; without a data set, none of the
        fields of :data:`TRAINING_DATA`, whose defaults (a split of 0.2 of 50000 rows) would say
        what is false of a model fitted on arrays."""
        values = {
            **asdict(self),
            "class_names": list(self.class_names),
            "feature_names": list(self.feature_names),
            "ignore_columns": list(self.ignore_columns),
        }
        if self.dataset is None:
            return {key: value for key, value in values.items() if key not in TRAINING_DATA}
        return values

    @classmethod
    def from_dict(cls, metadata: dict | None) -> TrainingRecord:
        """The record in ``metadata``: missing keys take their defaults, unknown keys are
        ignored.  An estimator's file saved before its record held ``feature_names`` has them
        as the fitted ``feature_names_in_`` under ``"sklearn"``: those are its feature names."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in (metadata or {}).items() if key in known}
        if not values.get("feature_names"):
            fitted = (metadata or {}).get("sklearn", {}).get("fitted", {})
            values["feature_names"] = [str(name) for name in fitted.get("feature_names_in_", [])]
        for names in ("class_names", "feature_names", "ignore_columns"):
            if names in values:
                values[names] = tuple(values[names])
        return cls(**values)

    @classmethod
    def of(cls, model) -> TrainingRecord:
        """The record saved with ``model`` (its ``metadata``, as :func:`nudgenet.load` sets it);
        ModelFileError where it names no task or no loss, an unknown task, or a loss of the
        other task (metadata written by hand)."""
        record = cls.from_dict(getattr(model, "metadata", None))
        missing = [name for name in ("task", "loss") if getattr(record, name) is None]
        if missing:
            raise ModelFileError(
                f"the model file records no {' and no '.join(missing)}; expected both, as "
                "nudgenet train and est.save write them (what its outputs mean is not guessed): "
                "save the model with ng.save(model, path, metadata={'task': 'classification', "
                "'loss': 'CrossEntropyLoss', 'class_names': [...]})"
            )
        if record.task not in SCORES:
            raise ModelFileError(
                f"the model file records the task {record.task!r}; expected one of "
                f"{', '.join(map(repr, SCORES))}"
            )
        trains = record.loss_fn().task  # a loss nudgenet does not know: its own error
        if trains != record.task:
            raise ModelFileError(
                f"the model file records the task {record.task!r} but the loss {record.loss}, "
                f"which trains a {trains}; expected both of one kind"
            )
        return record

    def scored(self, scores: dict[str, float]) -> TrainingRecord:
        """This record with the held-out score and loss taken from ``scores`` (metric name ->
        value; ``"loss"``, as :func:`nudgenet.evaluate` gives it, where it has one)."""
        metric = SCORES[self.task]
        loss = None if "loss" not in scores else float(scores["loss"])
        return replace(self, score_metric=metric, score=float(scores[metric]), held_out_loss=loss)

    def not_comparable(self, other: TrainingRecord) -> str | None:
        """Why ``other``'s score cannot be compared with this run's, in a few words; None when
        it can: scored by this run's metric, on the same held-out rows (:data:`HELD_OUT`), of
        the same columns (:data:`COLUMNS`)."""
        if other.score is None:
            return "it records no held-out score"
        for what, names in (("other held-out rows", HELD_OUT), ("other columns", COLUMNS)):
            differ = [
                f"{name} {getattr(other, name)!r}, this run's {getattr(self, name)!r}"
                for name in names
                if getattr(other, name) != getattr(self, name)
            ]
            if differ:
                return f"{what}: " + "; ".join(differ)
        if None not in (self.rows_checksum, other.rows_checksum) and (
            self.rows_checksum != other.rows_checksum
        ):
            return "other held-out rows: the data file changed since that model was trained"
        if other.score_metric != SCORES[self.task]:
            return f"it is scored by {other.score_metric}, this run by {SCORES[self.task]}"
        return None

    def beats(self, other: TrainingRecord) -> bool:
        """Whether this record's held-out result is better than ``other``'s (both scored by one
        metric): its score by more than :data:`SCORE_TIE` of the larger, or, the scores tied so
        (:meth:`ties`), its held-out loss lower by that much, where both record one (a score
        such as accuracy moves in coarse steps, 1/60 on 60 rows: ties are common, and the loss
        still tells a better fit).  Within rounding of each other (the same run on another
        number of ranks, say) is a tie: neither beats the other."""
        order = _order(self.score, other.score, METRICS[SCORES[self.task]].higher_is_better)
        if order == 0 and None not in (self.held_out_loss, other.held_out_loss):
            order = _order(self.held_out_loss, other.held_out_loss, higher_is_better=False)
        return order > 0

    def ties(self, other: TrainingRecord) -> bool:
        """Whether the two held-out scores are equal to within :data:`SCORE_TIE`."""
        return _order(self.score, other.score, higher_is_better=True) == 0

    def check_rows(self, data) -> None:
        """A DataError unless ``data`` (a :class:`~nudgenet.recipes.Dataset` loaded and split
        as this record says) holds the rows the model was trained and scored on, where the
        record has their checksum (:func:`rows_checksum`)."""
        if self.rows_checksum is not None and rows_checksum(data) != self.rows_checksum:
            raise DataError(
                f"{data.name}: its rows are not those the model was trained on (the file "
                "changed since), so its held-out rows cannot be found again; score a copy of "
                "it under another name (every row of a file the model never saw is scored)"
            )

    def unused_columns(self) -> tuple[int | str, ...]:
        """The data file's columns that are no features: those ignored, then the weight column
        (the held-out rows are scored unweighted, so predict and evaluate drop both)."""
        weight = () if self.weight_column is None else (self.weight_column,)
        return (*self.ignore_columns, *weight)

    def loss_fn(self):
        """A new loss object of the saved class."""
        return loss_by_class_name(self.loss)


def _order(a: float, b: float, higher_is_better: bool) -> int:
    """1 where ``a`` is better than ``b`` by more than :data:`SCORE_TIE` of the larger, -1
    where worse so, 0 where they tie."""
    margin = SCORE_TIE * max(abs(a), abs(b))
    sign = 1 if higher_is_better else -1
    return 1 if sign * (a - b) > margin else -1 if sign * (b - a) > margin else 0


def rows_checksum(data) -> int:
    """CRC-32 of a loaded data set's rows as split: training inputs and targets, then the
    held-out ones (what a model file records of a data file: ``TrainingRecord.rows_checksum``)."""
    crc = 0
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        crc = crc32(array, crc)
    return crc
