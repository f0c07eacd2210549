"""Which task a data set's targets are for, guessed when not given: the rule and its thresholds.

``--task auto`` (a user's file) reads the targets:

* labels that are names (``cat``, ``yes``) are classes;
* targets that are not all whole numbers, or several columns of them, are values (regression);
* whole numbers with more than :data:`AUTO_MAX_CLASSES` distinct values are values (ages, counts,
  prices in cents): never a silent many-class classifier;
* two distinct whole numbers are classes (a binary label);
* 3 to :data:`AUTO_MAX_CLASSES` distinct whole numbers are classes, unless one is rare: on a
  single row (it cannot be both trained on and held out), or on fewer than
  :data:`AUTO_MIN_CLASS_ROWS` rows in a file with that many rows per distinct value on average
  (a small file is too small to tell).  Then the guess is shaky (a few values, or classes too
  rare to learn?) and loading stops, asking for ``--task``.

Every guess comes with its reason and the option that overrides it, for the command's info line.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import DataError, NudgenetError

TASKS = ("auto", "classification", "regression")
AUTO_MAX_CLASSES = 20  # more distinct whole-number targets than this are values
AUTO_MIN_CLASS_ROWS = 5  # with 3+ distinct whole numbers, a rarer one may make the guess shaky


class Task(NamedTuple):
    """A data set's task, and why (empty when it was given, not guessed)."""

    name: str  # "classification" or "regression"
    reason: str = ""  # "task guessed: ..., read as classes (override: --task regression)"


def task_of(
    name: str, y: np.ndarray, task: str, names: bool = False, given_by: str = "--task"
) -> Task:
    """The task for targets ``y`` of the data set ``name``: ``task`` when it is
    ``"classification"`` or ``"regression"`` (checked against the targets), else guessed (see
    the module's rules); ``names``: ``y`` holds the codes of labels that were names;
    ``given_by``: what set ``task`` (``"--task"``, or ``"the model"``: no option to change).

    Raises:
        NudgenetError: an unknown ``task``.
        DataError: a classification of targets that are not one column of whole numbers, a
            regression of names, or a shaky guess (the message asks for ``--task``).
    """
    if task not in TASKS:
        raise NudgenetError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    whole = y.dtype.kind in "iub" and y.ndim == 1
    option = given_by == "--task"
    if names and task == "regression":
        raise DataError(
            f"{name}: the labels are names, not values: a regression needs numbers "
            + ("(leave --task at auto or classification)" if option else f"({given_by} is one)")
        )
    if task == "classification" and not whole:
        raise DataError(
            f"{name}: classification needs one column of whole-number labels, got "
            f"{y.dtype} targets of shape {y.shape}"
            + ("; pass --task regression for values" if option else f" ({given_by} is one)")
        )
    if task != "auto":
        return Task(task)
    if names:
        return Task("classification", "task guessed: the labels are names, read as classes")
    if not whole:
        what = f"{y.shape[1]} columns" if y.ndim == 2 else "not all whole numbers"
        return Task("regression", f"task guessed: the targets are {what}, read as values")
    values, counts = np.unique(y, return_counts=True)
    k = len(values)
    if k > AUTO_MAX_CLASSES:
        return Task(
            "regression",
            f"task guessed: {k} distinct whole numbers, more than {AUTO_MAX_CLASSES}, read as "
            "values (override: --task classification)",
        )
    fewest = AUTO_MIN_CLASS_ROWS if len(y) >= AUTO_MIN_CLASS_ROWS * k else 2
    rare = values[counts < fewest]
    if k > 2 and len(rare):
        raise DataError(
            f"{name}: are the labels classes or values? {k} distinct whole numbers, and "
            f"{len(rare)} of them ({', '.join(map(str, rare[:5].tolist()))}"
            f"{', ...' if len(rare) > 5 else ''}) on fewer than {fewest} rows: pass --task "
            "classification or --task regression"
        )
    return Task(
        "classification",
        f"task guessed: {k} distinct whole numbers, read as classes (override: --task regression)",
    )
