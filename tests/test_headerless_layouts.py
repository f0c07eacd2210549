"""Review 70, finding 1: which widths of a CSV file without a header ``predict``, ``evaluate`` and
``explain`` read, for a model trained with columns that are no features (a label, ignored
columns, a weight column).  A file may lack any of those; a width is read only where every
way to lack that many of them leaves the features at the same places (checked here against all
of them), else it is a one-line error naming the layouts the model reads."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from nudgenet import nn
from nudgenet.cli.columns import unused_in
from nudgenet.cli.predict import rows_to_predict
from nudgenet.errors import DataError
from nudgenet.recipes import TrainingRecord

# the training file's layouts: F a feature, L the label, I an ignored column, W the weights
LAYOUTS = ["FFF", "FFFL", "IFFF", "IFFFL", "FFWL", "FFIWL", "IFFWL", "IFWFFL", "FLFWI", "LIWFF",
           "FFFIW", "IFFW", "FLIF", "IWLFF", "FIFWF"]  # fmt: skip


def readings(layout: str, width: int) -> set[tuple[int, ...]]:
    """Where the features sit in each file of ``width`` columns that lacks some of the
    training file's columns that are no features."""
    others = [j for j, role in enumerate(layout) if role != "F"]
    places = set()
    for lacked in itertools.combinations(others, len(layout) - width):
        kept = [role for j, role in enumerate(layout) if j not in lacked]
        places.add(tuple(j for j, role in enumerate(kept) if role == "F"))
    return places


def record_of(layout: str) -> TrainingRecord:
    label = layout.index("L") if "L" in layout else None
    weight = layout.index("W") if "W" in layout else None
    ignored = tuple(j for j, role in enumerate(layout) if role == "I")
    return TrainingRecord(dataset="/t.csv", task="classification", loss="CrossEntropyLoss",
                          label_column=label, ignore_columns=ignored, weight_column=weight)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_headerless_width_is_read_only_where_it_has_one_reading(tmp_path, layout):
    features = layout.count("F")
    model = nn.Sequential(nn.Linear(features, 2))
    record = record_of(layout)
    model.metadata = record.to_dict()
    for width in range(features, len(layout) + 1):
        path = tmp_path / f"w{width}.csv"
        rows = np.arange(3 * width).reshape(3, width) + 100.0  # each cell tells its place
        path.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
        args = SimpleNamespace(input=str(path), label_column=None, quiet=True)
        places = readings(layout, width)
        if len(places) == 1:
            x = rows_to_predict(args, model, record)
            assert x.tolist() == rows[:, list(*places)].tolist(), (layout, width)
        else:
            with pytest.raises(DataError, match=rf"{width} columns and no header row; for this "
                               rf"model such a file holds its {features} features alone, or "
                               rf"the training file's {len(layout)} columns \("):  # fmt: skip
                rows_to_predict(args, model, record)
        labelled = width in (features, len(layout))  # (evaluate: which column is the label)
        if labelled or "L" not in layout:
            continue
        with pytest.raises(DataError, match="columns and no header row; .*label"):
            unused_in(str(path), record, features, labelled=True)


def test_a_headerless_file_for_a_model_of_columns_by_name_holds_its_features_alone(tmp_path):
    """Review 70, finding 3: the training file named ``id``: a headerless file of its 5 columns
    was said to be no layout of '4 columns ... (columns  held no features)', and one of id and
    the features was asked for its label column."""
    record = TrainingRecord(dataset="/t.csv", task="classification", loss="CrossEntropyLoss",
                            label_column="label", ignore_columns=("id",))  # fmt: skip
    for width in (4, 5):
        path = tmp_path / f"w{width}.csv"
        path.write_text("1,2,3,4,5\n6,7,8,9,10\n"[: 2 * width - 1] + "\n")
        with pytest.raises(DataError, match=rf"^\S+: {width} columns and no header row; this "
                           r"model's columns 'id', 'label' were recorded by name, so a file "
                           r"without a header row is read as its 3 features alone: "):  # fmt: skip
            unused_in(str(path), record, 3)
