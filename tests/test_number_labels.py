"""Number labels are classes by their values, as LabelEncoder numbers them (issue 11 review)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import recipes
from nudgenet.errors import DataError


def _csv(path, labels, seed=0):
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    x = rng.normal(size=(len(y), 2)) + y[:, None] / 5.0
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,label", comments="",
               fmt=["%.6f", "%.6f", "%d"])  # fmt: skip


def test_sparse_number_labels_are_as_many_classes_as_values(tmp_path):
    _csv(tmp_path / "sparse.csv", [0, 5, 10] * 40)
    data = recipes.load_dataset(str(tmp_path / "sparse.csv"), seed=0)
    assert data.class_names == ["0", "5", "10"] and data.outputs == 3
    assert set(np.concatenate([data.y_train, data.y_test]).tolist()) == {0, 1, 2}


def test_labels_one_and_two_are_a_binary_task(tmp_path):
    _csv(tmp_path / "pairs.csv", [1, 2] * 60)
    data = recipes.load_dataset(str(tmp_path / "pairs.csv"), seed=0)
    assert data.class_names == ["1", "2"] and data.outputs == 2


def test_another_file_is_read_with_the_models_classes_and_an_unseen_label_refused(tmp_path):
    _csv(tmp_path / "new.csv", [10, 0, 10, 5])
    data = recipes.load_dataset(str(tmp_path / "new.csv"), test_size=None,
                                class_names=["0", "5", "10"])  # fmt: skip
    assert data.y_test.tolist() == [2, 0, 2, 1]  # the model's numbering, not the file's own
    _csv(tmp_path / "odd.csv", [0, 7, 5])
    with pytest.raises(DataError, match=r"label '7' is not one of the model's classes"):
        recipes.load_dataset(str(tmp_path / "odd.csv"), test_size=None,
                             class_names=["0", "5", "10"])  # fmt: skip


def test_the_cli_trains_and_evaluates_sparse_labels_by_their_values(tmp_path, monkeypatch, capsys):
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "sparse.csv", [0, 5, 10] * 40)
    assert main(["train", "--dataset", "sparse.csv", "--epochs", "3", "-q", "-o", "s.st"]) == 0
    assert ng.load("s.st")[-1].out_features == 3
    capsys.readouterr()
    assert main(["evaluate", "s.st", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["class_names"] == ["0", "5", "10"] and len(report["confusion_matrix"]) == 3


def test_a_number_column_with_a_missing_value_is_named_not_made_classes(tmp_path):
    ages = [str(a) for a in range(18, 90)] * 3
    ages[7] = "NA"
    rows = [f"{i % 7},{i % 5},{age}" for i, age in enumerate(ages)]
    (tmp_path / "ages.csv").write_text("a,b,age\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"labels are numbers but for 1 of 216 rows \('NA'\)"):
        ng.datasets.load_arrays(tmp_path / "ages.csv", label_column="age")
