"""What ``nudgenet train`` saves in a model file's metadata, written and read in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .builders import loss_by_class_name
from .datasets import DEFAULT_SAMPLES, DEFAULT_TEST_SIZE


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained: the data set and split to rebuild its held-out rows, the task
    and loss to score it with, the class names to print.  Each default is what a model file
    without that key means (one written before the key existed, or by ``ng.save`` with metadata
    of your own); keys this class does not know are ignored."""

    dataset: str | None = None  # a name in recipes.DATASETS, or a file's absolute path
    data_dir: str | None = None  # absolute
    labels: str | None = None  # an IDX labels file, absolute
    label_column: int | str | None = None  # a CSV file's label column: its name, or its index
    task: str = "classification"
    loss: str = "CrossEntropyLoss"  # the loss class's name
    class_names: tuple[str, ...] = ()
    test_size: float = DEFAULT_TEST_SIZE
    seed: int = 0
    samples: int = DEFAULT_SAMPLES

    def to_dict(self) -> dict:
        """The JSON-able metadata to save with the model."""
        return {**asdict(self), "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, metadata: dict | None) -> TrainingRecord:
        """The record in ``metadata``: missing keys take their defaults, unknown keys are
        ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in (metadata or {}).items() if key in known}
        if "class_names" in values:
            values["class_names"] = tuple(values["class_names"])
        return cls(**values)

    @classmethod
    def of(cls, model) -> TrainingRecord:
        """The record saved with ``model`` (its ``metadata``, as :func:`nudgenet.load` sets it)."""
        return cls.from_dict(getattr(model, "metadata", None))

    def loss_fn(self):
        """A new loss object of the saved class."""
        return loss_by_class_name(self.loss)
