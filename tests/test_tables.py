"""Users' own tables (issue 11): labels that are names, guessing the task, validation rows of
class-sorted data, losses in the targets' units, a CSV that still has its label column, and a
folder given as a data set."""

from __future__ import annotations

import json
import re
import sys
import warnings

import numpy as np
import pytest

import nudgenet as ng
from cli_helpers import last_json, run_cli
from nudgenet import recipes
from nudgenet.data import load_arrays, resolve_label_column
from nudgenet.errors import DataError

# --- labels that are names ------------------------------------------------------------------


def pets(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and names (cat / dog / fox) that the features decide."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    names = np.array(["cat", "dog", "fox"])[np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])]
    return x, names


def write_pets(path, x, names, header="a,b,c,kind", spelled=None):
    """A CSV of ``x`` and ``names``, each name spelled by ``spelled(k, name)`` (quotes, spaces)."""
    spell = spelled or (lambda k, name: name)
    lines = [header] if header else []
    lines += [
        ",".join(f"{v:.6f}" for v in row) + "," + spell(k, name)
        for k, (row, name) in enumerate(zip(x, names))
    ]
    path.write_text("\n".join(lines) + "\n")


def messy(k: int, name: str) -> str:
    """Names quoted or not, with stray spaces (a space before the quotes too, as many
    exporters write ``1.5, "cat"``)."""
    return (f'"{name}"', f" {name} ", f'" {name}"', name, f' "{name}"', f'"{name}" ')[k % 6]


def test_text_labels_are_encoded_as_label_encoder_does(tmp_path):
    from sklearn.preprocessing import LabelEncoder

    x, names = pets()
    write_pets(tmp_path / "pets.csv", x, names, spelled=messy)
    features, y, classes = load_arrays(tmp_path / "pets.csv", "kind", return_classes=True)
    encoder = LabelEncoder().fit(names)
    assert classes == encoder.classes_.tolist() == ["cat", "dog", "fox"]
    assert y.dtype == np.int64 and y.tolist() == encoder.transform(names).tolist()
    np.testing.assert_allclose(features, x, atol=1e-6)
    assert load_arrays(tmp_path / "pets.csv", "kind")[1].tolist() == y.tolist()  # (x, y) as ever
    # no header: a first row whose only word is its label is data, not a header
    write_pets(tmp_path / "plain.csv", x, names, header=None)
    assert resolve_label_column(tmp_path / "plain.csv") == 3
    plain, y_plain, classes_plain = load_arrays(tmp_path / "plain.csv", return_classes=True)
    assert len(plain) == len(x) and y_plain.tolist() == y.tolist() and classes_plain == classes
    # numeric labels: as they are, and no class names
    np.savetxt(tmp_path / "numbers.csv", np.column_stack([x, y]), delimiter=",")
    assert load_arrays(tmp_path / "numbers.csv", return_classes=True)[2] is None
    # an .npz archive of string labels: the same rule
    np.savez(tmp_path / "pets.npz", x=x, y=names)
    assert load_arrays(tmp_path / "pets.npz", return_classes=True)[2] == classes


def test_given_classes_keep_the_numbering_and_name_an_unknown_label(tmp_path):
    x, names = pets()
    dogs = names == "dog"
    write_pets(tmp_path / "dogs.csv", x[dogs], names[dogs])
    _, y, classes = load_arrays(tmp_path / "dogs.csv", "kind", ["cat", "dog", "fox"], True)
    assert y.tolist() == [1] * int(dogs.sum()) and classes == ["cat", "dog", "fox"]
    assert load_arrays(tmp_path / "dogs.csv", "kind")[1].tolist() == [0] * int(dogs.sum())
    write_pets(tmp_path / "birds.csv", x[:3], ["cat", "bird", "dog"])
    with pytest.raises(DataError, match=r"label 'bird' is not one of the model's classes"):
        load_arrays(tmp_path / "birds.csv", "kind", ["cat", "dog", "fox"])
    np.savetxt(tmp_path / "n.csv", np.column_stack([x[:4], [2, 0, 1, 2]]), delimiter=",")
    assert load_arrays(tmp_path / "n.csv", classes=["0", "1", "2"])[1].tolist() == [2, 0, 1, 2]


def test_a_quoted_cell_after_a_space_is_read_as_without_it(tmp_path):
    """``1.5, "2.5", "cat"``: the cells 2.5 and cat, as in ``1.5,"2.5","cat"`` (NumPy's reader
    takes the quotes only at a cell's start; the quoted name was a class of its own)."""
    (tmp_path / "d.csv").write_text('a,b,kind\n1.5, "2.5", "cat"\n2,3,cat\n4, 5 , dog\n')
    x, y, classes = load_arrays(tmp_path / "d.csv", "kind", return_classes=True)
    assert x.tolist() == [[1.5, 2.5], [2, 3], [4, 5]] and y.tolist() == [0, 0, 1]
    assert classes == ["cat", "dog"]
    (tmp_path / "n.csv").write_text('a,b\n1.5, "2.5"\n2,3\n')  # every cell a number
    assert load_arrays(tmp_path / "n.csv", "b")[0].tolist() == [[1.5], [2]]
    (tmp_path / "bad.csv").write_text('a,b,kind\n1.5, "x",cat\n2,3,dog\n')
    with pytest.raises(DataError, match=r"line 2, column 2 \('b'\): 'x' is not a number"):
        load_arrays(tmp_path / "bad.csv", "kind")
    (tmp_path / "digits.csv").write_text('a,b,kind\n1.5, "2",cat\n2,\u0661,dog\n')  # Arabic 1
    with pytest.raises(DataError, match="line 3, column 2 \\('b'\\): '\u0661' is not a number"):
        load_arrays(tmp_path / "digits.csv", "kind")  # as NumPy's reader refuses it
    (tmp_path / "nbsp.csv").write_text('a,b,kind\n1.5, "2",cat\n\u00a02,3,dog\n')  # padded
    assert load_arrays(tmp_path / "nbsp.csv", "kind")[0].tolist() == [[1.5, 2], [2, 3]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,kind\n1,cat\n2,\n", r"line 3, column 2 \('kind'\): no label"),
        ("a,kind\n1,cat\noops,dog\n", r"line 3, column 1 \('a'\): 'oops' is not a number"),
        ("a,kind\n1,cat\n2,dog,3\n", "line 3 has 3 cells, expected 2"),
        ("a,kind\n", r"d.csv: no data rows after the header$"),  # the path was said twice
    ],
)
def test_text_label_files_with_bad_cells(tmp_path, text, message):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        load_arrays(tmp_path / "d.csv", "kind")




def test_the_commands_print_and_return_class_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x, names = pets(300)
    write_pets(tmp_path / "pets.csv", x, names, spelled=messy)
    train = ("train", "--dataset", "pets.csv", "--epochs", "20", "-o", "pets.st")
    code, out, err = run_cli(capsys, *train, "--label-column", "kind", "--json", "--verbose")
    summary = last_json(out)
    assert code == 0 and summary["task"] == "classification" and summary["test_accuracy"] > 0.8
    assert summary["classes"] == ["cat", "dog", "fox"]  # and the info line names them
    info = "classification, 3 features (a, b, c), 3 classes (cat, dog, fox), labels in column"
    assert f"{info} 'kind'" in err
    model = ng.load(tmp_path / "pets.st")
    assert model.metadata["class_names"] == ["cat", "dog", "fox"]
    # predict: names, in text and JSON
    np.save(tmp_path / "rows.npy", x[:6])
    out = run_cli(capsys, "predict", "pets.st", "rows.npy", "--json")[1]
    expected = ["cat", "dog", "fox"]
    labels = [expected[k] for k in ng.predict(model, x[:6]).argmax(axis=1)]
    assert last_json(out)["predictions"] == labels
    assert run_cli(capsys, "predict", "pets.st", "rows.npy")[1].startswith(f"row 0: {labels[0]}  (")
    # explain: the target's and the prediction's names
    code, out, _ = run_cli(capsys, "explain", "pets.st", "--index", "2", "--json")
    result = last_json(out)
    assert result["target_name"] == expected[result["target"]]
    assert result["predicted_name"] == expected[result["predicted"]]
    text = run_cli(capsys, "explain", "pets.st", "--index", "2")[1].splitlines()[0]
    assert text.endswith(f"target {result['target_name']}, predicted {result['predicted_name']}")
    # evaluate on a file of foxes only: the model's numbering, not the file's own
    foxes = names == "fox"
    write_pets(tmp_path / "foxes.csv", x[foxes], names[foxes])
    scores = last_json(
        run_cli(capsys, "evaluate", "pets.st", "--dataset", "foxes.csv", "--json")[1]
    )
    right = ng.predict(model, x[foxes]).argmax(axis=1) == 2
    assert scores["rows"] == int(foxes.sum()) and scores["accuracy"] == pytest.approx(right.mean())
    write_pets(tmp_path / "birds.csv", x[:3], ["cat", "bird", "dog"])
    code, _, err = run_cli(capsys, "evaluate", "pets.st", "--dataset", "birds.csv")
    assert code == 1 and err.strip().count("\n") == 0
    assert "label 'bird' is not one of the model's classes (cat, dog, fox)" in err


def test_text_labels_are_never_a_regression(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x, names = pets()
    write_pets(tmp_path / "pets.csv", x, names)
    code, _, err = run_cli(
        capsys, "train", "--dataset", "pets.csv", "--label-column", "kind", "--task", "regression"
    )
    assert code == 1 and "the labels are names, not values: a regression needs numbers" in err


# --- guessing the task ----------------------------------------------------------------------


def write_table(path, x, y, header="a,b,target"):
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%g")


def test_many_whole_numbers_are_values_and_the_info_line_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    ages = np.clip(np.round(50 + 12 * x[:, 0]), 18, 90)  # about 60 distinct whole numbers
    write_table(tmp_path / "ages.csv", x, ages)
    code, out, err = run_cli(capsys, "train", "--dataset", "ages.csv", "--epochs", "2")
    assert code == 0
    assert re.search(
        r"; regression, 2 features \(a, b\), labels in column 'target'; task guessed: \d+ distinct "
        r"whole numbers, more than 20, read as values \(override: --task classification\)",
        err,
    )
    code, out, err = run_cli(capsys, "train", "--dataset", "ages.csv", "--epochs", "2", "--json")
    assert last_json(out)["task"] == "regression"


def test_a_few_classes_are_classes_and_a_shaky_guess_asks_for_the_task(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = np.digitize(x[:, 0], [-0.5, 0.5])  # 3 classes of plenty of rows
    write_table(tmp_path / "three.csv", x, y)
    code, _, err = run_cli(capsys, "train", "--dataset", "three.csv", "--epochs", "1")
    assert code == 0 and "; classification, 2 features" in err
    assert (
        "task guessed: 3 distinct whole numbers, read as classes (override: --task regression)"
        in (err)
    )
    counts = np.round(np.exp(x[:, 0]))  # counts with a long tail: 12 values, rare high ones
    write_table(tmp_path / "counts.csv", x, counts)
    assert 3 <= len(np.unique(counts)) <= 20 and np.bincount(counts.astype(int)).min() < 5
    code, out, err = run_cli(capsys, "train", "--dataset", "counts.csv", "--epochs", "1")
    assert code == 1 and out == "" and "are the labels classes or values?" in err
    assert "pass --task classification or --task regression" in err
    code, out, _ = run_cli(
        capsys,
        *("train", "--dataset", "counts.csv", "--epochs", "1"),
        "--json",
        "--task",
        "regression",
    )
    assert code == 0 and last_json(out)["task"] == "regression"


def test_the_task_thresholds_live_in_one_place():
    from nudgenet.recipes.tasks import AUTO_MAX_CLASSES, AUTO_MIN_CLASS_ROWS, task_of

    many = np.repeat(np.arange(AUTO_MAX_CLASSES + 1), AUTO_MIN_CLASS_ROWS)
    assert task_of("f", many, "auto").name == "regression"
    assert task_of("f", many[many < AUTO_MAX_CLASSES], "auto").name == "classification"
    assert task_of("f", many, "classification") == ("classification", "")  # given: no reason
    rare = np.concatenate([np.repeat(np.arange(5), 10), [5] * (AUTO_MIN_CLASS_ROWS - 1)])
    with pytest.raises(DataError, match="classes or values"):
        task_of("f", rare, "auto")
    assert task_of("f", np.array([0, 0, 1]), "auto").name == "classification"  # binary: classes
    small = np.array([0, 0, 0, 1, 1, 1, 2, 2])  # too few rows to tell: read as classes
    assert task_of("f", small, "auto").name == "classification"
    with pytest.raises(DataError, match="classes or values"):
        task_of("f", np.array([0, 0, 1, 1, 2]), "auto")  # a value on one row
    assert task_of("f", np.array([0.5, 1.0]), "auto").name == "regression"
    assert task_of("f", np.array([0, 1]), "auto", names=True).reason.endswith(
        "names, read as classes"
    )


# --- validation rows of class-sorted data -----------------------------------------------------


def spiral_fit(**kwargs):
    x, y = ng.datasets.spirals(600, classes=3, seed=0)  # rows sorted by class
    model = ng.Sequential(ng.Linear(2, 32, seed=0), ng.ReLU(), ng.Linear(32, 3, seed=1))
    optimizer = ng.optim.Adam(model.parameters(), lr=0.01)
    return ng.fit(
        model,
        ng.CrossEntropyLoss(),
        optimizer,
        x,
        y,
        epochs=15,
        validation_split=0.2,
        seed=0,
        metrics=["accuracy"],
        verbose=0,
        **kwargs,
    )


def test_validation_rows_that_lack_classes_are_warned_about():
    with pytest.warns(
        UserWarning,
        match=r"the validation rows \(the last 120 rows as given\) lack "
        r"classes \[0, 1\] that the training rows hold.*validation_split_mode="
        r'"stratify"',
    ):
        history = spiral_fit()
    assert history["val_accuracy"][-1] < 0.2  # Keras's rule, kept: the last rows are one class


@pytest.mark.parametrize("mode", ["shuffle", "stratify"])
def test_shuffled_or_stratified_validation_rows(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: both parts hold every class
        history = spiral_fit(validation_split_mode=mode)
    assert history["val_accuracy"][-1] > 0.8
    again = spiral_fit(validation_split_mode=mode)
    assert again.history["val_loss"] == history.history["val_loss"]  # the seed's rows, each time


def test_validation_split_modes_pick_the_rows():
    from nudgenet.data.split import validation_split_rows

    y = np.repeat([0, 1, 2], [60, 30, 10])
    train, val = validation_split_rows(100, 20, "stratify", y, seed=0)
    assert np.bincount(y[val]).tolist() == [12, 6, 2] and len(np.union1d(train, val)) == 100
    assert validation_split_rows(100, 20) == (slice(0, 80), slice(80, 100))
    with pytest.raises(ValueError, match="validation_split_mode must be one of last, shuffle"):
        validation_split_rows(100, 20, "random")


def test_the_command_line_validation_rows_hold_every_class():
    """``nudgenet train`` holds back the last rows of its training part, which the stratified
    held-out split has shuffled: class-sorted spirals give validation rows of every class."""
    data = recipes.load_dataset("spirals", samples=600, seed=0)
    held = ng.holdout.validation_rows(len(data.y_train), 0.1)
    assert np.unique(data.y_train[-held:]).tolist() == [0, 1, 2]


# --- losses in the targets' units -------------------------------------------------------------


def test_regression_losses_are_all_in_the_targets_units(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 2))
    y = 1e-3 * (x[:, 0] + 0.5 * x[:, 1])  # small targets: small losses
    write_table(tmp_path / "tiny.csv", x, y)
    train = ("train", "--dataset", "tiny.csv", "--epochs", "20", "-q", "-o", "tiny.st")
    summary = last_json(run_cli(capsys, *train, "--json")[1])
    assert summary["units"] == "target"
    model = ng.load(tmp_path / "tiny.st")
    data = recipes.load_dataset("tiny.csv", seed=0)
    fitted = len(data.y_train) - ng.holdout.validation_rows(len(data.y_train), 0.1)
    for key, rows in (("train_loss", slice(0, fitted)), ("val_loss", slice(fitted, None))):
        expected = ng.evaluate(model, ng.MSELoss(), data.x_train[rows], data.y_train[rows])
        assert summary[key] == pytest.approx(expected["loss"], rel=1e-5)
    assert summary["train_loss"] < 1e-6 and summary["test_loss"] < 1e-6  # one scale, not two
    out = run_cli(capsys, *train)[1]
    held_out = re.fullmatch(
        r"held-out: loss (\S+), rmse (\S+), mae (\S+) \(in the targets' units\)",
        out.splitlines()[-2],
    )
    assert (
        held_out
        and "e-" in held_out[1]
        and float(held_out[1]) == pytest.approx(summary["test_loss"], rel=0.01)
    )


def test_figures_print_small_values_readably():
    from nudgenet.cli.common import format_figure

    assert format_figure(0.97333) == "0.9733" and format_figure(0.0) == "0.0000"
    assert format_figure(1.234e-06) == "1.23e-06" and format_figure(2.5e7) == "2.50e+07"
    assert format_figure(float("nan")) == "nan"


# --- a CSV that still has its label column; a folder as a data set --------------------------


def train_pets(tmp_path, monkeypatch, capsys) -> np.ndarray:
    """pets.st, trained in ``tmp_path`` (the working folder now) on pets.csv; its features."""
    monkeypatch.chdir(tmp_path)
    x, names = pets()
    write_pets(tmp_path / "pets.csv", x, names)
    train = ("train", "--dataset", "pets.csv", "--label-column", "kind", "--epochs", "2")
    assert run_cli(capsys, *train, "-q", "-o", "pets.st")[0] == 0
    return x


def test_predict_drops_the_label_column_the_model_was_trained_on(tmp_path, monkeypatch, capsys):
    x = train_pets(tmp_path, monkeypatch, capsys)
    code, out, err = run_cli(capsys, "predict", "pets.st", "pets.csv", "--json")
    assert code == 0 and len(last_json(out)["predictions"]) == len(x)
    assert (
        err
        == "nudgenet: pets.csv: dropped column 'kind', the label column the model was trained on\n"
    )
    write_table(tmp_path / "plain.csv", x, np.arange(len(x)) % 2, header="")  # labels: column 3
    (tmp_path / "plain.csv").write_text((tmp_path / "plain.csv").read_text().lstrip("\n"))
    run_cli(capsys, "train", "--dataset", "plain.csv", "--epochs", "2", "-q", "-o", "plain.st")
    code, out, err = run_cli(capsys, "predict", "plain.st", "plain.csv", "--json")
    assert code == 0 and "dropped column 4 (index 3), the label column" in err
    assert last_json(out)["classes"] == ng.predict(ng.load("plain.st"), x).argmax(1).tolist()
    np.savetxt(tmp_path / "rows.csv", x[:2], delimiter=",")  # features only: as they are
    assert run_cli(capsys, "predict", "plain.st", "rows.csv")[2] == ""


def test_predict_names_a_missing_column_or_another_model_s_count_not_a_label_cell(
    tmp_path, monkeypatch, capsys
):
    """A file lacking a feature column, or a model of another data set, was blamed on the label
    column's first name: "line 2, column 3 ('kind'): 'cat' is not a number"."""
    x = train_pets(tmp_path, monkeypatch, capsys)
    write_pets(tmp_path / "short.csv", x[:, :2], ["cat"] * len(x), header="a,b,kind")  # no c
    code, out, err = run_cli(capsys, "predict", "pets.st", "short.csv")
    assert (code, out) == (1, "") and err == (
        "nudgenet predict: error: short.csv: the model was trained on the columns 'a', 'b', 'c'; "
        "this file lacks 'c'\n"
    )
    first = [line.rsplit(",", 1) for line in (tmp_path / "pets.csv").read_text().splitlines()[1:]]
    (tmp_path / "first.csv").write_text("".join(f"{kind},{row}\n" for row, kind in first))
    (tmp_path / "first-short.csv").write_text(
        "".join(f"{kind},{row.rsplit(',', 1)[0]}\n" for row, kind in first[:3]))  # fmt: skip
    run_cli(capsys, "train", "--dataset", "first.csv", "--label-column", "0", "--epochs", "1",
            "-q", "-o", "first.st")  # fmt: skip  (a file without a header: by index)
    code, out, err = run_cli(capsys, "predict", "first.st", "first-short.csv")
    assert (code, out) == (1, "") and err == (
        "nudgenet predict: error: first-short.csv: expected 3 feature columns, as the model "
        "takes, got 2 beside label column 1 (index 0), the one the model was trained with\n"
    )
    assert run_cli(capsys, "train", "--epochs", "1", "-q", "-o", "digits.st")[0] == 0
    code, out, err = run_cli(capsys, "predict", "digits.st", "pets.csv")
    assert (code, out) == (1, "") and err == (
        "nudgenet predict: error: pets.csv: expected 64 feature columns, as the model takes, "
        "got 4\n"
    )


def test_predict_drops_the_label_column_it_is_given(tmp_path, monkeypatch, capsys):
    """--label-column drops a CSV file's column by name or index, whatever it holds (blank
    labels of rows to predict), for a model that records no label column (as est.save's);
    one column too many without it, a column the file lacks, and an .npy file are one line."""
    x = train_pets(tmp_path, monkeypatch, capsys)
    model = ng.load("pets.st")
    ng.save(model, "bare.st", metadata={**model.metadata, "label_column": None})
    expected = last_json(run_cli(capsys, "predict", "pets.st", "pets.csv", "--json")[1])
    write_table(tmp_path / "numbers.csv", x, np.arange(len(x)) % 3, header="a,b,c,kind")
    for table in ("pets.csv", "numbers.csv"):  # labels that are names, or numbers
        code, out, err = run_cli(capsys, "predict", "bare.st", table)
        assert (code, out) == (1, "") and err == (
            f"nudgenet predict: error: {table}: expected 3 feature columns, as the model takes, "
            "got 4; if one is the label column, drop it with --label-column (its name, or its "
            "index from 0)\n"
        )
    write_pets(tmp_path / "unlabelled.csv", x, [""] * len(x))  # rows to predict: no labels
    lines = (tmp_path / "pets.csv").read_text().splitlines()[1:]
    first = [line.rsplit(",", 1)[1] + "," + line.rsplit(",", 1)[0] for line in lines]
    (tmp_path / "first.csv").write_text("\n".join(first) + "\n")  # no header, labels first
    for table, column in [("pets.csv", "kind"), ("pets.csv", "3"), ("pets.csv", "-1"),
                          ("unlabelled.csv", "kind"), ("first.csv", "0")]:  # fmt: skip
        code, out, err = run_cli(capsys, "predict", "bare.st", table, "--label-column", column,
                                 "--json")  # fmt: skip
        assert (code, err, last_json(out)) == (0, "", expected), (table, column)
    for table, column, message in [
        ("pets.csv", "size", "pets.csv: no column named 'size'; the header has "),
        ("first.csv", "4", "first.csv: label column index 4 is out of range for 4 columns"),
        ("rows.npy", "kind", "rows.npy: --label-column names a column of a CSV file; an .npy "
                             "file holds features only, an .npz file its features under key 'x'"),
    ]:  # fmt: skip
        np.save(tmp_path / "rows.npy", x)
        code, out, err = run_cli(capsys, "predict", "bare.st", table, "--label-column", column)
        assert (code, out) == (1, "") and err.startswith(f"nudgenet predict: error: {message}")
        assert err.count("\n") == 1
    # another column than the one the model's labels were in: those would be a feature (this
    # predicted, exit 0, from the labels themselves)
    code, out, err = run_cli(capsys, "predict", "pets.st", "pets.csv", "--label-column", "a")
    assert (code, out) == (1, "") and err == (
        "nudgenet predict: error: pets.csv: the model was trained with its labels in column "
        "'kind', which --label-column a would give it as a feature; drop that column "
        "(--label-column kind)\n"
    )


def test_a_folder_as_a_data_set_says_it_is_a_folder(tmp_path, monkeypatch, capsys):
    train_pets(tmp_path, monkeypatch, capsys)
    (tmp_path / "tables").mkdir()
    for command in (
        ("train", "--dataset", "tables"),
        ("predict", "pets.st", "tables"),
        ("evaluate", "pets.st", "--dataset", "tables"),
    ):
        code, out, err = run_cli(capsys, *command)
        assert code == 1 and out == ""
        message = "tables is a folder, not a data file; name a file in it"
        assert err == f"nudgenet {command[0]}: error: {message}\n"


def test_the_readme_tables_example_runs(tmp_path, monkeypatch):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### Tables", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "pets.csv").is_file()


def test_the_cli_turns_fits_warnings_into_notes_and_q_silences_them(tmp_path, monkeypatch, capsys):
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(40), 8)  # 40 classes of 8 rows: the validation rows lack some
    x = rng.normal(size=(len(y), 3)) + y[:, None]
    np.savetxt("many.csv", np.column_stack([x, y]), delimiter=",", header="a,b,c,label",
               comments="", fmt=["%.5f"] * 3 + ["%d"])  # fmt: skip
    command = ["train", "--dataset", "many.csv", "--task", "classification", "--epochs", "1"]
    assert main([*command, "-o", "a.st"]) == 0
    err = capsys.readouterr().err
    assert "nudgenet: note: fit: the validation rows" in err and "UserWarning" not in err
    # in the command's terms: it has no validation_split_mode (the note named it)
    assert "; a class has few rows: --validation-split 0 trains on them all\n" in err
    assert "validation_split_mode" not in err
    assert main([*command, "--early-stopping", "2", "-o", "c.st"]) == 0  # which refuses 0
    assert "; a class has few rows: a larger --validation-split holds more\n" in (
        capsys.readouterr().err
    )
    assert main([*command, "-q", "-o", "b.st"]) == 0
    assert capsys.readouterr().err == ""


def test_the_cli_turns_a_loader_s_warning_into_a_note_and_q_silences_it(
    tmp_path, monkeypatch, capsys
):
    """A library warning outside fit (a CSV file's first row 0,1,2,... read as data) was
    Python's two-line warning naming a source file; now a note in every command, none with
    -q."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    rows = np.random.default_rng(0).normal(size=(40, 3))
    np.savetxt("pd.csv", rows, delimiter=",", header="0,1,2", comments="", fmt="%.4f")
    note = ("pd.csv: the first row (0,1,2) is read as data, as a first row of numbers or "
            "labels always is; if it is pandas' default column names, save with "
            "to_csv(header=False) or name the columns\n")  # fmt: skip
    assert main(["train", "--dataset", "pd.csv", "--epochs", "1", "-o", "m.st"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"nudgenet: note: {note}") and "Warning" not in err
    for command in (["predict", "m.st", "pd.csv", "--label-column", "2"], ["evaluate", "m.st"]):
        assert main(command) == 0
        notes = [line for line in capsys.readouterr().err.splitlines(keepends=True)
                 if line.startswith("nudgenet: note: ")]  # fmt: skip
        assert len(notes) == 1 and notes[0].endswith(note)  # (evaluate: the full path)
        assert main([*command, "-q"]) == 0
        assert capsys.readouterr().err == ""
    # predict reads the file twice here (the trained label column, then every column): one note,
    # and not also the note of a first row holding the model's column names, which says less
    labelled = np.column_stack([rows[:, 2], rows[:, :2]])
    np.savetxt("first.csv", labelled, delimiter=",", header="y,0,1", comments="", fmt="%.4f")
    np.savetxt("x.csv", rows[:5, :3], delimiter=",", header="0,1,2", comments="", fmt="%.4f")
    assert main(["train", "--dataset", "first.csv", "--epochs", "1", "-o", "f.st", "-q"]) == 0
    assert main(["predict", "f.st", "x.csv"]) == 1  # 3 columns for 2 features: said
    err = capsys.readouterr().err
    assert err.count("nudgenet: note: ") == 1 and "x.csv: the first row (0,1,2)" in err


def test_warning_notes_say_a_user_warning_once_and_leave_the_others_to_python(capsys):
    """A command's notes: each UserWarning once, one line; a DeprecationWarning (a developer's)
    as Python shows it, with its source line, not as a bare note."""
    from types import SimpleNamespace

    from nudgenet.cli.common import warning_notes

    passed = []  # what reaches Python's own display (pytest records it, printing nothing)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, *where, **more: passed.append(category)
        warnings.showwarning = warning_notes(SimpleNamespace(quiet=False))
        for _ in range(2):
            warnings.warn("look at the data", UserWarning, stacklevel=1)
        warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    assert capsys.readouterr().err == "nudgenet: note: look at the data\n"
    assert passed == [DeprecationWarning]


def test_train_names_a_class_weight_of_no_training_row_by_the_option_s_name():
    """fit's warning names class indices ("class 2 ... [0, 1]"); the command's note names the
    class as --class-weight did."""
    from nudgenet.cli.train import _in_command_terms
    from nudgenet.errors import AbsentClassWeightWarning

    warning = AbsentClassWeightWarning("fit: class_weight names class 2, ...", [2])
    assert _in_command_terms(warning, 0, ["cat", "dog", "fox"]) == (
        "--class-weight names class 'fox', of which no training row is left (the rows all went "
        "to the held-out or validation rows); a weight of no row changes nothing"
    )
    assert _in_command_terms(warning, 0) == "fit: class_weight names class 2, ..."
    both = AbsentClassWeightWarning("...", [0, 2])
    assert _in_command_terms(both, 0, ["cat", "dog", "fox"]).startswith(
        "--class-weight names classes 'cat', 'fox', of which"
    )


def test_predict_names_a_header_s_unnamed_column_not_a_label_column(tmp_path, monkeypatch,
                                                                     capsys):
    """pandas' X_new.to_csv("new.csv") (the row index written, unnamed) is one column wider
    than the model: predict said to drop a label column with --label-column, which it has
    not; the unnamed column's error, as train's, says what is wrong."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    rows = np.random.default_rng(0).normal(size=(40, 3))
    np.savetxt("d.csv", rows, delimiter=",", header="a,b,y", comments="", fmt="%.4f")
    assert main(["train", "--dataset", "d.csv", "--epochs", "1", "-o", "m.st", "-q"]) == 0
    indexed = np.column_stack([np.arange(5), rows[:5, :2]])
    np.savetxt("new.csv", indexed, delimiter=",", header=",a,b", comments="", fmt="%.4f")
    assert main(["predict", "m.st", "new.csv"]) == 1
    assert capsys.readouterr().err == (
        "nudgenet predict: error: new.csv: column 1 (index 0) has no name in the header row (a "
        "row index? pandas: to_csv(index=False); R: write.csv(row.names=FALSE)); a header "
        "names every column\n"
    )


def test_the_cli_s_notes_come_as_fit_warns_not_after_training(tmp_path, monkeypatch, capsys):
    """A warning fit gives as it starts (more ranks than cores, say) is a note before the
    training, not after it (they were collected and printed when fit returned)."""
    from nudgenet.cli import main
    from nudgenet.cli import train as train_command

    fit = train_command.fit

    def warning_fit(*args, **kwargs):
        warnings.warn("3 ranks share 2 cores", UserWarning, stacklevel=2)
        print("training begins", file=sys.stderr)
        return fit(*args, **kwargs)

    monkeypatch.setattr(train_command, "fit", warning_fit)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "spirals", "--epochs", "1", "-o", "m.st"]) == 0
    err = capsys.readouterr().err
    assert "nudgenet: note: 3 ranks share 2 cores\ntraining begins" in err, err


def _table(path, header, columns, x, labels=None):
    """A CSV file of ``x``'s columns in the order ``columns`` (indices), under ``header``, and
    the labels last where given."""
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i, row in enumerate(x):
            cells = [f"{row[j]:.5f}" for j in columns] + ([] if labels is None else [labels[i]])
            f.write(",".join(cells) + "\n")


def _trained_on_abc(capsys, model: str):
    """``(x, labels)`` of a table of columns a, b, c and a label, and a model trained on it
    (``train.csv``) saved at ``model``, in the current folder."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    labels = np.array(["no", "yes"])[(x[:, 0] + 2 * x[:, 1] > 0).astype(int)]
    _table("train.csv", ["a", "b", "c", "label"], [0, 1, 2], x, labels)
    assert run_cli(capsys, "train", "--dataset", "train.csv", "--epochs", "3", "-q",
                   "-o", model)[0] == 0  # fmt: skip
    return x, labels


def test_predict_and_evaluate_read_a_file_s_columns_by_the_names_the_model_was_trained_on(
    tmp_path, monkeypatch, capsys
):
    """The model file records the header's feature columns; a file naming them in another
    order was read by position, so predict gave other classes and evaluate another accuracy
    without a word.  Reordered: read in the model's order, with a note; other names: refused."""
    monkeypatch.chdir(tmp_path)
    x, labels = _trained_on_abc(capsys, "m.safetensors")
    assert ng.load("m.safetensors").metadata["feature_names"] == ["a", "b", "c"]
    _table("same.csv", ["a", "b", "c"], [0, 1, 2], x[:20])
    _table("moved.csv", ["c", "a", "b"], [2, 0, 1], x[:20])
    code, same, _ = run_cli(capsys, "predict", "m.safetensors", "same.csv", "--json")
    code, moved, err = run_cli(capsys, "predict", "m.safetensors", "moved.csv", "--json")
    assert code == 0 and json.loads(moved) == json.loads(same)
    assert "moved.csv: columns read in the order the model was trained on ('a', 'b', 'c')" in err
    _table("other.csv", ["x", "b", "c"], [0, 1, 2], x[:20])
    code, out, err = run_cli(capsys, "predict", "m.safetensors", "other.csv")
    assert code == 1 and out == ""
    assert err == ("nudgenet predict: error: other.csv: the model was trained on the columns "
                   "'a', 'b', 'c'; this file lacks 'a' and has 'x', which the model never "
                   "saw\n")  # fmt: skip
    _table("scored.csv", ["c", "b", "a", "label"], [2, 1, 0], x, labels)
    _table("in_order.csv", ["a", "b", "c", "label"], [0, 1, 2], x, labels)
    scores = [
        json.loads(run_cli(capsys, "evaluate", "m.safetensors", "--dataset", name, "--json")[1])
        for name in ("scored.csv", "in_order.csv")
    ]
    assert scores[0]["accuracy"] == scores[1]["accuracy"] > 0.9
    assert scores[0]["scope"] == scores[1]["scope"] == "held-out"  # the training rows, by checksum
    _table("with_id.csv", ["id", "a", "b", "c", "label"], [0, 0, 1, 2], x, labels)
    code, _, err = run_cli(capsys, "evaluate", "m.safetensors", "--dataset", "with_id.csv")
    assert code == 1 and err == ("nudgenet evaluate: error: with_id.csv: the model was trained on "
                                 "the columns 'a', 'b', 'c'; this file has 'id', which the "
                                 "model never saw\n")  # fmt: skip
    rows = [f"{i},{r[0]},{r[1]},{r[2]},{label}\n" for i, (r, label) in enumerate(zip(x, labels))]
    (tmp_path / "unnamed.csv").write_text("".join(rows))  # no header: by position, counted
    code, _, err = run_cli(capsys, "evaluate", "m.safetensors", "--dataset", "unnamed.csv")
    assert code == 1 and err == ("nudgenet evaluate: error: unnamed.csv: expected 3 feature "
                                 "columns, as the model takes, got 4\n")  # fmt: skip
    import onnx  # the names come from the model file (the training CSV may have moved)

    (tmp_path / "train.csv").unlink()
    assert run_cli(capsys, "export", "m.safetensors", "moved.onnx", "-q")[0] == 0
    properties = {p.key: p.value for p in onnx.load("moved.onnx").metadata_props}
    assert json.loads(properties["feature_names"]) == ["a", "b", "c"]


def test_an_estimator_s_file_is_read_by_the_names_of_its_dataframe_s_columns(
    tmp_path, monkeypatch, capsys
):
    import pandas as pd  # the test extra installs it: missing, this fails (no silent skip)

    from nudgenet.sklearn import MLPClassifier

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] - x[:, 2] > 0).astype(int)
    frame = pd.DataFrame(x, columns=["p", "q", "r"])
    est = MLPClassifier((8,), max_iter=300, random_state=0).fit(frame, y)
    est.save("est.safetensors")
    _table("moved.csv", ["r", "p", "q"], [2, 0, 1], x[:10])
    code, out, err = run_cli(capsys, "predict", "est.safetensors", "moved.csv", "--json")
    assert code == 0 and "columns read in the order the model was trained on ('p', 'q', 'r')" in err
    assert json.loads(out)["classes"] == est.predict(x[:10]).tolist()


@pytest.mark.parametrize("separator, named", [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_of_another_separator_is_named_as_such(separator, named, tmp_path):
    """A spreadsheet's export in a locale of decimal commas (semicolons) or a tab-separated
    file read as one column: "has 1 column; a label column needs at least one feature column"
    and advice for Python's label_column=None."""
    path = tmp_path / "table.csv"
    rows = [["a", "b", "label"], ["1,5", "2", "cat"]]
    path.write_text("\n".join(separator.join(row) for row in rows))
    with pytest.raises(DataError) as error:
        load_arrays(path, label_column="auto")
    assert str(error.value) == (
        f"{path}: line 1 holds values separated by {named}; a CSV file here is "
        "comma-separated, with decimal points: save it with commas between the cells"
    )
    # decimal commas and no header: a row of three "cells", "1", "5;2", "0;cat", not one; the
    # bad cell is named, with the advice
    path.write_text("\n".join(separator.join(row) for row in [["1,5", "2,0", "cat"]] * 2))
    cell = re.escape(repr(f"5{separator}2"))
    with pytest.raises(DataError, match=rf"line 1, column 2 \(index 1\): {cell} is not a number "
                       rf"\(its cells hold {named}: if they separate the values, save the file "
                       "with commas between the cells"):  # fmt: skip
        load_arrays(path, label_column=-1)


@pytest.mark.parametrize(("hint", "shown"), [("sep=,", "sep=,"), ("sep=;", "sep=;"),
                                             ("SEP=\t", "SEP=")])  # fmt: skip
def test_excel_s_separator_line_is_named_not_read_as_a_row(hint, shown, tmp_path):
    """A first line sep=, (Excel reads and skips it) was read as a row of two cells: "line 1,
    column 2: no label", or "the file has no header row" for a label column by name."""
    path = tmp_path / "excel.csv"
    path.write_text(f"{hint}\nweight,height,label\n1.5,0.1,up\n1.2,0.3,down\n")
    for label_column in ("auto", "label", -1):
        with pytest.raises(DataError) as error:
            load_arrays(path, label_column=label_column)
        assert str(error.value) == (
            f"{path}: line 1 ({shown}) is "
            "Excel's separator hint, not a row of the table; delete that line (the table starts "
            "on line 2)"
        )
    path.write_text("separator,label\n1,x\n2,y\n")  # a column named sep... is a column
    assert load_arrays(path, label_column="label", return_classes=True)[2] == ["x", "y"]


def test_a_tab_separated_file_with_semicolons_in_its_text_is_named_tab_separated(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a\tb\tlabel\n1\t2\tcat; dog\n3\t4\tbird\n")
    with pytest.raises(DataError, match="line 1 holds values separated by tabs; "):
        load_arrays(path, label_column="auto")


def test_semicolons_inside_quoted_cells_are_text_not_separators(tmp_path):
    """A quoted label or text cell holding a semicolon, and a one-column file whose header does,
    are no file of another separator: read, or refused for what they are."""
    labels = tmp_path / "labels.csv"
    labels.write_text('a,b,kind\n1,2,"cat; dog"\n3,4,bird\n')
    assert load_arrays(labels, label_column="kind", return_classes=True)[2] == ["bird", "cat; dog"]
    one = tmp_path / "one.csv"
    one.write_text('"weight; kg"\n1\n2\n')
    assert load_arrays(one, label_column=None)[0].shape == (2, 1)
    text = tmp_path / "text.csv"
    text.write_text('a,b,label\n1,2,0\n3,"Smith; J",1\n')
    with pytest.raises(DataError, match="line 3, column 2 \\('b'\\): 'Smith; J' is not a number"):
        load_arrays(text, label_column="label")


def test_a_label_column_named_in_another_case_is_suggested(tmp_path):
    """``--label-column species`` on a header ``Species``: the error listed the header only."""
    path = tmp_path / "pets.csv"
    path.write_text("a,b,Species\n1,2,cat\n3,4,dog\n")
    for given in ("species", " SPECIES "):
        with pytest.raises(DataError) as error:
            load_arrays(path, label_column=given)
        assert str(error.value) == (
            f"{path}: no column named {given!r}; the header has ['a', 'b', 'Species'] (did you "
            "mean 'Species'? names are matched exactly)"
        )


def test_columns_by_name_with_a_negative_label_index_and_repeated_names(
    tmp_path, monkeypatch, capsys
):
    """Reviews 25 and 26: ``--label-column -1`` read the columns by position (the raw -1 was
    passed on, not the column it names); a header repeating a name turned the check off, and
    repeated names were compared as sets; a wrong count named the Standardize layer in
    predict.  A first row of the model's names of numbers (a header of ``10,20,30``) is read
    as data, as any row of numbers, with a note."""
    monkeypatch.chdir(tmp_path)
    x, labels = _trained_on_abc(capsys, "m.st")
    rng = np.random.default_rng(1)
    _table("same.csv", ["a", "b", "c", "label"], [0, 1, 2], x[:20], labels[:20])
    _table("moved.csv", ["c", "a", "b", "label"], [2, 0, 1], x[:20], labels[:20])
    right = json.loads(run_cli(capsys, "predict", "m.st", "same.csv", "--json")[1])
    for given in ("-1", "3", "label"):
        code, out, err = run_cli(capsys, "predict", "m.st", "moved.csv", "--label-column", given,
                                 "--json")  # fmt: skip
        assert code == 0 and json.loads(out) == right, given
        assert "columns read in the order the model was trained on" in err, given
    _table("repeats.csv", ["x", "y", "y"], [0, 1, 2], x[:5])
    code, _, err = run_cli(capsys, "predict", "m.st", "repeats.csv")
    assert code == 1 and "lacks 'a', 'b', 'c' and has 'x', 'y', 'y', which the model" in err
    wide = [f"f{j}" for j in range(30)]
    _table("wide.csv", wide, list(range(3)) * 10, x[:3])
    code, _, err = run_cli(capsys, "predict", "m.st", "wide.csv")  # a one-line error, not long
    assert code == 1 and "'f7', 'f8', 'f9', ... (20 more)" in err
    np.savetxt("five.csv", rng.normal(size=(4, 5)), delimiter=",")
    code, _, err = run_cli(capsys, "predict", "m.st", "five.csv")
    assert err == ("nudgenet predict: error: five.csv: expected 3 feature columns, as the model "
                   "takes, got 5\n")  # fmt: skip
    _table("twice.csv", ["a", "a", "b", "label"], [0, 1, 2], x, labels)  # a name repeated
    assert run_cli(capsys, "train", "--dataset", "twice.csv", "--epochs", "1", "-q",
                   "-o", "t.st")[0] == 0  # fmt: skip
    _table("b_a_a.csv", ["b", "a", "a"], [2, 0, 1], x[:5])
    code, _, err = run_cli(capsys, "predict", "t.st", "b_a_a.csv")  # which a is which?
    assert code == 1 and err == (
        "nudgenet predict: error: b_a_a.csv: the model was trained on the columns 'a', 'a', 'b'; "
        "this file names them in another order ('b', 'a', 'a'), and names that repeat cannot say "
        "which column is which: put them in the model's order\n"
    )
    _table("a_b_b.csv", ["a", "b", "b"], [0, 1, 2], x[:5])
    code, _, err = run_cli(capsys, "predict", "t.st", "a_b_b.csv")  # counted: one a, two b
    assert code == 1 and "this file lacks 'a' and has 'b' once more than the model" in err
    classes = [str(int(v)) for v in labels == "yes"]  # numbers: the header's word is "label"
    _table("numbers.csv", ["10", "20", "30", "label"], [0, 1, 2], x, classes)
    assert run_cli(capsys, "train", "--dataset", "numbers.csv", "--epochs", "1", "-q",
                   "-o", "n.st")[0] == 0  # fmt: skip
    _table("numbers_rows.csv", ["30", "10", "20"], [2, 0, 1], x[:6])
    code, out, err = run_cli(capsys, "predict", "n.st", "numbers_rows.csv", "--json")
    assert code == 0 and len(json.loads(out)["classes"]) == 7  # the first row read as data...
    assert "numbers_rows.csv: the first row ('30', '10', '20') holds the model's column names " \
        "but is read as a row of numbers" in err  # ...and said


def test_column_names_match_in_one_unicode_form_and_errors_show_them_quoted(tmp_path,
                                                                            monkeypatch, capsys):
    """'größe' typed with a combining accent was "lacks größe and has größe"; an invisible
    character and a repeated name made messages that contradicted themselves."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(40, 2)), np.where(rng.normal(size=40) > 0, "yes", "no")
    _table("t.csv", ["größe", "width", "label"], [0, 1], x, labels)
    trained = run_cli(capsys, "train", "--dataset", "t.csv", "--epochs", "1", "-q", "-o", "m.st")
    assert trained[0] == 0
    decomposed = "gro\u0308\u00dfe"  # the same name, its ö as o and a combining diaeresis
    _table("nfd.csv", ["width", decomposed, "label"], [1, 0], x, labels)
    code, out, err = run_cli(capsys, "predict", "m.st", "nfd.csv", "--json")
    assert code == 0 and "columns read in the order the model was trained on" in err
    _table("hidden.csv", ["größe", "\u200bwidth"], [0, 1], x[:3])
    code, _, err = run_cli(capsys, "predict", "m.st", "hidden.csv")
    assert code == 1 and "lacks 'width' and has '\\u200bwidth', which the model never saw" in err
    _table("twice.csv", ["größe", "größe"], [0, 1], x[:3])
    code, _, err = run_cli(capsys, "predict", "m.st", "twice.csv")
    assert code == 1 and "lacks 'width' and has 'größe' once more than the model" in err
    # two columns whose names are one name in two forms stay two columns: read by name
    composed, accented = "\u00e9", "e\u0301"
    _table("two.csv", [composed, accented, "label"], [0, 1], x, labels)
    assert run_cli(capsys, "train", "--dataset", "two.csv", "--epochs", "1", "-q",
                   "-o", "two.st")[0] == 0  # fmt: skip
    right = json.loads(run_cli(capsys, "predict", "two.st", "two.csv", "--json")[1])
    _table("swapped.csv", [accented, composed, "label"], [1, 0], x, labels)
    code, out, err = run_cli(capsys, "predict", "two.st", "swapped.csv", "--json")
    assert code == 0 and json.loads(out) == right and "columns read in the order" in err
    # the label column named in another form than the model's record names it
    _table("label_nfd.csv", ["größe", "width", decomposed.replace("gro", "Gro")], [0, 1], x, labels)
    _table("label_nfc.csv", ["größe", "width", "Größe"], [0, 1], x, labels)
    assert run_cli(capsys, "train", "--dataset", "label_nfc.csv", "--label-column", "Größe",
                   "--epochs", "1", "-q", "-o", "l.st")[0] == 0  # fmt: skip
    code, out, err = run_cli(capsys, "evaluate", "l.st", "--dataset", "label_nfd.csv")
    assert code == 0 and "held-out (8 rows)" in out, err  # label_nfc.csv's rows: by checksum
    # a feature named as the label in another form stays a feature (it was dropped with it)
    _table("near.csv", [accented, "x", composed], [0, 1], x, labels)
    assert run_cli(capsys, "train", "--dataset", "near.csv", "--label-column", composed,
                   "--epochs", "1", "-q", "-o", "near.st")[0] == 0  # fmt: skip
    assert recipes.TrainingRecord.of(ng.load("near.st")).feature_names == (accented, "x")


def test_a_training_file_changed_since_is_not_re_split_as_its_held_out_rows(tmp_path,
                                                                             monkeypatch, capsys):
    """Shuffling the training CSV's rows made evaluate score 60 "held-out" rows, 48 of which
    the model was trained on, and train compare scores on different rows.  The model file now
    records a checksum of the rows as split (none for a named data set)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(100, 3)), np.where(rng.normal(size=100) > 0, "yes", "no")
    _table("t.csv", ["a", "b", "c", "label"], [0, 1, 2], x, labels)
    train = ("train", "--dataset", "t.csv", "--epochs", "2", "-q", "-o", "m.st")
    assert run_cli(capsys, *train)[0] == 0
    assert run_cli(capsys, "evaluate", "m.st")[0] == 0  # the same file: its held-out rows
    _table("r.csv", ["a", "b", "c", "target"], [0, 1, 2], x, [f"{v:.4f}" for v in x.sum(axis=1)])
    assert run_cli(capsys, "train", "--dataset", "r.csv", "--epochs", "1", "-q",
                   "-o", "r.st")[0] == 0  # fmt: skip
    code, _, err = run_cli(capsys, "evaluate", "r.st", "--label-column", "a")  # another column
    assert code == 1 and "lacks 'a' and has 'target'" in err  # said as such, not "changed"
    order = rng.permutation(100)
    _table("t.csv", ["a", "b", "c", "label"], [0, 1, 2], x[order], labels[order])
    code, _, err = run_cli(capsys, "evaluate", "m.st")
    assert code == 1 and "t.csv: its rows are not those the model was trained on" in err
    code, _, err = run_cli(capsys, *train)
    assert code == 1 and "the data file changed since that model was trained" in err
    record = recipes.TrainingRecord.of(ng.load("m.st"))
    assert isinstance(record.rows_checksum, int)
    # a model file written before the checksum existed is scored as before
    old = ng.load("m.st")
    ng.save(old, "old.st", metadata={**old.metadata, "rows_checksum": None})
    assert run_cli(capsys, "evaluate", "old.st")[0] == 0


def test_the_explain_figure_names_the_bars_in_the_model_s_column_order(tmp_path, monkeypatch,
                                                                       capsys):
    import nudgenet.plot as plot

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    labels = np.array(["no", "yes"])[(x[:, 0] > 0).astype(int)]
    _table("train.csv", ["a", "b", "c", "label"], [0, 1, 2], x, labels)
    _table("moved.csv", ["c", "a", "b", "label"], [2, 0, 1], x, labels)
    assert run_cli(capsys, "train", "--dataset", "train.csv", "--epochs", "2", "-q",
                   "-o", "m.st")[0] == 0  # fmt: skip
    seen = {}
    monkeypatch.setattr(plot, "plot_explanation", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(plot, "plot_network", lambda *a, **kw: None)
    assert run_cli(capsys, "explain", "m.st", "--dataset", "moved.csv", "--out", "e.png",
                   "-q")[0] == 0  # fmt: skip
    assert seen["feature_names"] == ["a", "b", "c"]  # the rows' order: the model's


def test_a_class_of_one_row_is_named_as_the_file_names_it(tmp_path, monkeypatch, capsys):
    """It said "stratify: class 0 has only 1 row": a code, and an option train does not have;
    a header of numbers read as data made its label cell such a class, unsaid."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rare.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5,6,y\n7,8,y\n9,1,y\n")
    rng = np.random.default_rng(0)
    rows = "".join(f"{a:.3f},{b:.3f},{'up' if a > 0 else 'down'}\n"
                   for a, b in rng.normal(size=(40, 2)))  # fmt: skip
    (tmp_path / "sales.csv").write_text("2023,2024,outcome\n" + rows)
    (tmp_path / "one.csv").write_text("a,b,label\n1,2,1.5\n")  # a regression of one row
    code, out, err = run_cli(capsys, "train", "--dataset", "one.csv")
    assert (code, out) == (1, "") and err == (
        "nudgenet train: error: one.csv: 1 row; the training and the held-out rows need one each "
        "at least\n"
    )  # it was "test_size=0.2 gives 1 test rows out of 1; ...", naming no file
    for table, said in [
        (["rare.csv"], "rare.csv: class 'x' has only 1 row (data row 1)"),
        (["sales.csv", "--label-column", "2"], "sales.csv: class 'outcome' has only 1 row (the "
                                               "file's first row, read as data: is it a header of "
                                               "numbers?)"),
    ]:  # fmt: skip
        code, out, err = run_cli(capsys, "train", "--dataset", *table)
        assert (code, out) == (1, "") and err == (
            f"nudgenet train: error: {said}; every class needs 2 or more, to be in both the "
            "training and the held-out rows\n"
        )


def test_a_task_the_model_sets_is_not_advised_as_an_option(tmp_path, monkeypatch, capsys):
    """evaluate of a regression model on labels that are names advised "leave --task at auto",
    an option evaluate does not have: the model sets the task there."""
    x = train_pets(tmp_path, monkeypatch, capsys)
    values = np.c_[x, x[:, 0] + x[:, 1]]
    np.savetxt(tmp_path / "values.csv", values, delimiter=",", header="a,b,c,kind", comments="")
    assert run_cli(capsys, "train", "--dataset", "values.csv", "--label-column", "kind",
                   "--epochs", "2", "-q", "-o", "values.st")[0] == 0  # fmt: skip
    for argv, advice in [
        (("evaluate", "values.st", "--dataset", "pets.csv"), "(the model is one)"),
        (("train", "--dataset", "pets.csv", "--label-column", "kind", "--task", "regression"),
         "(leave --task at auto or classification)"),
    ]:  # fmt: skip
        code, out, err = run_cli(capsys, *argv)
        assert (code, out) == (1, "") and err == (
            f"nudgenet {argv[0]}: error: pets.csv: the labels are names, not values: a "
            f"regression needs numbers {advice}\n"
        )


def test_explain_with_figures_names_a_data_file_it_cannot_read(tmp_path, monkeypatch, capsys):
    """The check that explain's figures replace no data file it reads raised the system's error
    itself ("[Errno 36] File name too long") before the reader could name the file."""
    import matplotlib  # noqa: F401  (the test extra installs it: missing, this fails)
    train_pets(tmp_path, monkeypatch, capsys)
    too_long = "a" * 300 + ".csv"
    code, out, err = run_cli(capsys, "explain", "pets.st", "--dataset", too_long, "--out", "x.png")
    assert code == 1 and err.startswith(f"nudgenet explain: error: {too_long}: cannot read (")


def test_evaluate_s_metric_notes_name_the_classes_by_their_names(tmp_path, monkeypatch, capsys):
    """Review 70, finding 6: the roc_auc note said "the labels hold only class 1" where the
    model's classes are no/yes, named so everywhere else in evaluate's output."""
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(60, 2)).round(3)
    rows = [f"{a},{b},{'yes' if a + b > 0 else 'no'}" for a, b in x]
    (tmp_path / "t.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "yes.csv").write_text("a,b,label\n" + "\n".join(r for r in rows if "yes" in r))
    assert run_cli(capsys, "train", "--dataset", "t.csv", "--epochs", "1", "-q")[0] == 0
    code, _, err = run_cli(capsys, "evaluate", "nudgenet-t.safetensors", "--dataset", "yes.csv")
    assert code == 0 and "note: roc_auc: the labels hold only class 'yes'; ROC AUC needs rows " \
        "of both classes 'no' and 'yes', so it is not defined (nan)\n" in err, err
