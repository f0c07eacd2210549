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

from cli_helpers import run_cli
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


def told_readings(layout: str, width: int, label: int) -> set[tuple[int, ...]]:
    """Where the features sit in each file of ``width`` columns, its label in column ``label``,
    that lacks some of the training file's unused columns (ignored, weights)."""
    unused = [j for j, role in enumerate(layout) if role in "IW"]
    places = set()
    for lacked in itertools.combinations(unused, len(layout) - width):
        kept = [role for j, role in enumerate(layout) if j not in lacked]
        if kept.index("L") == label:
            places.add(tuple(j for j, role in enumerate(kept) if role == "F"))
    return places


@pytest.mark.parametrize("layout", [layout for layout in LAYOUTS if "L" in layout])
def test_evaluate_told_the_label_column_reads_a_width_it_then_reads_one_way(tmp_path, layout):
    """Review 80, finding 5c: with --label-column given, a headerless file narrower than the
    training file was still refused as 'which of them is the label is not told'.  Told, it is
    read where that leaves one reading; else the error says why the option does not tell."""
    features = layout.count("F")
    record = record_of(layout)
    for width in range(features + 1, len(layout)):
        path = tmp_path / f"w{width}.csv"
        path.write_text(",".join(map(str, range(width))) + "\n")
        for label in range(width):
            places = told_readings(layout, width, label)
            if len(places) == 1:
                unused = unused_in(str(path), record, features, labelled=True, label=label)
                rest = [j for j in range(width) if j != label and j not in unused]
                assert rest == list(*places), (layout, width, label)
            else:
                why = (rf"--label-column {label} still leaves the file lacking any" if places
                       else rf"no {width} of them have the label where --label-column {label} "
                       "places it")  # fmt: skip
                with pytest.raises(DataError, match=f"; {why}"):
                    unused_in(str(path), record, features, labelled=True, label=label)


@pytest.mark.parametrize("layout", ["FFIWL", "IFFF", "FFL"])
def test_evaluate_refuses_a_headerless_file_of_the_features_alone(tmp_path, layout):
    """Review 80, finding 5a: evaluate and explain read a file of the features alone with its
    last feature as the labels ('class labels must be names or whole numbers, got float32')."""
    path = tmp_path / "x.csv"
    path.write_text("0.5,1.5,2.5\n" if layout.count("F") == 3 else "0.5,1.5\n")
    with pytest.raises(DataError, match=r"as many as the model's features, which hold no labels"):
        unused_in(str(path), record_of(layout), layout.count("F"), labelled=True)


def test_evaluate_advises_a_header_for_a_model_of_columns_by_name(tmp_path):
    """Review 80, finding 5a: for a model of columns recorded by name, evaluate and explain
    advised 'a header row ..., or those features alone', which hold no labels to score."""
    record = TrainingRecord(dataset="/t.csv", task="classification", loss="CrossEntropyLoss",
                            label_column="label", ignore_columns=("id",))  # fmt: skip
    for width in (3, 4, 5):
        path = tmp_path / f"w{width}.csv"
        path.write_text(",".join(map(str, range(width))) + "\n")
        with pytest.raises(DataError, match=r"without a header row can only be its 3 features "
                           r"alone, which hold no labels to score: give the file a header row "
                           r"naming its columns$"):  # fmt: skip
            unused_in(str(path), record, 3, labelled=True)


def test_evaluate_names_the_layouts_of_a_headerless_file_lacking_a_column(
    tmp_path, monkeypatch, capsys
):
    """Review 80, finding 5b: evaluate of a headerless file lacking one of the training file's
    columns said 'label column 4 is out of range for 4 columns' where predict named the
    layouts; with --label-column 2 (c), the file lacking the weights, it said the label was
    not told."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    a, b, w = rng.normal(size=60).round(3), rng.normal(size=60).round(3), 1 + np.arange(60) % 2
    rows = np.c_[np.arange(60), a, b, w, (a + b > 0)]
    np.savetxt("t.csv", rows, delimiter=",", fmt="%g")  # id, a, b, w, label
    np.savetxt("noid.csv", rows[:, 1:], delimiter=",", fmt="%g")
    np.savetxt("abl.csv", rows[:, [1, 2, 4]], delimiter=",", fmt="%g")
    assert run_cli(capsys, "train", "--dataset", "t.csv", "--ignore-columns", "0",
                   "--weight-column", "3", "--epochs", "2", "-q", "-o", "m.st")[0] == 0
    code, _, err = run_cli(capsys, "evaluate", "m.st", "--dataset", "noid.csv")
    assert code == 1 and "out of range" not in err
    assert ("4 columns could lack any 1 of columns 1 (index 0), 4 (index 3), 5 (index 4), "
            "which reads other columns") in err
    assert run_cli(capsys, "evaluate", "m.st", "--dataset", "abl.csv", "--label-column", "2",
                   "-q")[0] == 0  # fmt: skip
    code, _, err = run_cli(capsys, "evaluate", "m.st", "--dataset", "abl.csv", "-q")
    assert code == 1 and "3 columns could lack any 2 of columns 1 (index 0), 4 (index 3), 5 " \
        "(index 4), which reads" in err


def test_messages_count_a_headerless_file_s_columns_from_1_with_the_index_in_brackets(
    tmp_path, monkeypatch, capsys
):
    """Review 84, finding 3: on one headerless file, 'column 4 (index 3)' (a cell) stood beside
    'column 3 is the label column' (index 3), 'dropped column 4' (index 4) and 'line 1, column 3
    is empty' (counted from 1, no index): every message now counts from 1, index in brackets."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "h.csv").write_text("".join(
        f"{i},{a:.3f},{b:.3f},note{i},{i % 2}\n" for i, (a, b) in enumerate(rng.random((60, 2)))))
    code, _, err = run_cli(capsys, "train", "--dataset", "h.csv", "--ignore-columns", "3",
                           "--label-column", "3", "-o", "h.st")  # fmt: skip
    assert code == 1 and "h.csv: column 4 (index 3) is the label column; it cannot" in err
    code, _, err = run_cli(capsys, "train", "--dataset", "h.csv", "--ignore-columns", "3",
                           "--epochs", "2", "-o", "h.st")  # fmt: skip
    assert code == 0 and "labels in column 5 (index 4);" in err
    assert "column 1 (index 0) looks like a row ID" in err
    (tmp_path / "p1.csv").write_text("".join((tmp_path / "h.csv").read_text().splitlines(True)[:2]))
    code, _, err = run_cli(capsys, "predict", "h.st", "p1.csv")
    assert code == 0 and "p1.csv: dropped column 5 (index 4), the label column the model" in err
    (tmp_path / "p6.csv").write_text("1,0.5,,n,1\n2,0.1,0.2,n,0\n")
    code, _, err = run_cli(capsys, "predict", "h.st", "p6.csv")
    assert code == 1 and "p6.csv: line 1, column 3 (index 2) is empty above numbers" in err
    code, _, err = run_cli(capsys, "train", "--dataset", "h.csv", "--ignore-columns", "7")
    assert code == 1 and "no column at index 7 to ignore; the file has 5 columns (indices 0..4)" \
        in err
