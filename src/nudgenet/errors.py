"""Exceptions nudgenet raises for user mistakes; the CLI turns these into one-line errors.
:func:`caller_stacklevel` points nudgenet's warnings at the user's line."""

import contextlib
import json
import math
import os
import sys
from collections.abc import Sequence
from itertools import zip_longest

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# frames a warning passes over to the user's line: nudgenet's, and contextlib's (whose
# ``__enter__`` runs a context manager nudgenet wrote as a generator)
_NOT_THE_CALLER = (_PACKAGE, contextlib.__file__)


class NudgenetError(Exception):
    """Base class of every error nudgenet raises on bad input."""


class ShapeError(NudgenetError, ValueError):
    """An array or tensor had the wrong shape; the message names expected and actual."""


class DataError(NudgenetError, ValueError):
    """A data file or array is missing, corrupt, or inconsistent (labels vs images, checksums)."""


class DataNotFoundError(DataError):
    """Data files are not where they were looked for (unlike a file that is there but corrupt,
    which is a plain :class:`DataError`)."""


class ModelFileError(NudgenetError, ValueError):
    """A model file is missing, corrupt, or not a nudgenet model."""


class CompileError(NudgenetError, ValueError):
    """``fit(..., compile=True)`` was asked for a model, loss or targets the compiled training
    step does not cover; the message names what (a layer, a hook, the targets, ...)."""


class CheckpointError(NudgenetError, ValueError):
    """A checkpoint is unreadable (corrupt, truncated, not a checkpoint) or belongs to another
    run (architecture, optimiser, data, batch size or seed differ); the message names which."""


class ExportError(NudgenetError, ValueError):
    """A model cannot be exported (to ONNX): the message names the layer and the operation that
    has no counterpart, or what else stands in the way."""


class DistributedError(NudgenetError, RuntimeError):
    """Data-parallel training cannot run as asked: mpi4py missing under an MPI launcher, ranks
    that do not run the same ``fit`` (model, options, data sizes), a layer that needs the whole
    batch (:mod:`nudgenet.distributed`)."""


class DivergenceWarning(RuntimeWarning):
    """Training stopped because its loss stopped being finite (``fit``) or ran away
    (:class:`~nudgenet.TerminateOnDivergence`); the message says where and what to change.
    A RuntimeWarning, so filters for that category keep catching it; its own class lets users
    filter it alone (``warnings.simplefilter("error", ng.DivergenceWarning)``).  Code that
    reports such a stop itself runs fit with a callback saying ``reports_divergence``."""


class SharedMemoryWarning(RuntimeWarning):
    """A machine's shared memory (``/dev/shm``) lacks room for what its data-parallel ranks would
    share (the data set, the parameters and gradients): each rank keeps its own copy, or the
    gradients are summed with ``Allreduce``; slower or larger, not wrong.  A RuntimeWarning of
    its own class, so that ``nudgenet train``, which silences NumPy's RuntimeWarnings, still
    says it."""


class UndefinedMetricWarning(UserWarning):
    """A metric is not defined on the rows it was given: ROC AUC of labels of one class (NaN;
    scikit-learn's ``roc_auc_score`` raises instead), or precision, recall or F1 of a class with
    no predicted rows or no rows (counted as 0, scikit-learn's ``zero_division="warn"``).  A
    warning, not an error, so that ``fit``'s per-epoch metrics and ``evaluate``'s other scores
    go on; with Python's default filter it shows once per line of the caller, not every epoch.
    ``template`` is the message with a ``{0}``, ``{1}``, ... for each of the ``classes`` it
    names (indices), so :meth:`named` can name them by a model's class names."""

    def __init__(self, template: str, classes: Sequence[int] = ()):
        super().__init__(template.format(*classes) if classes else template)
        self.template, self.classes = template, tuple(classes)

    def named(self, names: Sequence[str]) -> str:
        """The message with each class by its name in ``names`` (quoted), where it has one."""
        if not self.classes:
            return str(self)
        return self.template.format(*(repr(names[k]) if k < len(names) else k
                                      for k in self.classes))  # fmt: skip


class AbsentClassWeightWarning(UserWarning):
    """``class_weight`` names ``classes`` (indices) that no training row has: their weights
    change nothing (a typo, labels encoded otherwise, a rare class all in the validation rows;
    the command line names them as its option did)."""

    def __init__(self, message: str, classes: list[int]):
        super().__init__(message)
        self.classes = classes


class ValidationRowsWarning(UserWarning):
    """``fit``'s validation rows lack classes its training rows hold, or the reverse: ``problem``
    says which, ``fix`` what to pass to ``fit`` instead (the command line gives its own)."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix


def name_all_rows(error: ShapeError, rows: int, total: int) -> None:
    """Make ``error``, raised by a model on the first ``rows`` of ``total`` input rows (a
    batch, or one row read to check the targets), name the shape all the rows give: the
    refusing layer's ``got shape (rows, ...)`` becomes ``(total, ...)``, the rest unchanged;
    in place, so re-raising it keeps its traceback (no second pass over all the rows)."""
    if rows != total and error.args:
        said = str(error.args[0])
        error.args = (said.replace(f"got shape ({rows},", f"got shape ({total},", 1),)


def first_difference(mine: dict, theirs: dict, here: str = "here") -> str | None:
    """``"<where> <theirs> there, <mine> <here>"`` for the first place where ``theirs`` differs
    from ``mine`` (values as JSON, cut to 60 characters), or None: the words of a one-line error
    saying how two runs differ (a checkpoint's and this one, two ranks).  ``where`` is a key of
    ``mine``, followed into dicts of the same keys and into lists (``callbacks[1].factor``;
    of lists of unequal length, the first item that differs or is absent from one:
    ``callbacks[2] {...} there, absent here``), so a long value is not cut before its
    difference shows."""
    for key, value in mine.items():
        found = _difference(key, value, theirs.get(key, _ABSENT))
        if found:
            where, value, other = found
            return f"{where} {_short(other)} there, {_short(value)} {here}"
    return None


_ABSENT = object()  # an item one of two lists lacks


def _difference(where: str, mine, theirs) -> tuple[str, object, object] | None:
    if mine == theirs or _both_nan(mine, theirs):
        return None
    if isinstance(mine, dict) and isinstance(theirs, dict) and mine.keys() == theirs.keys():
        parts = [(f"{where}.{key}", value, theirs[key]) for key, value in mine.items()]
    elif isinstance(mine, list) and isinstance(theirs, list):
        pairs = zip_longest(mine, theirs, fillvalue=_ABSENT)
        parts = [(f"{where}[{i}]", a, b) for i, (a, b) in enumerate(pairs)]
    else:
        return where, mine, theirs
    return next((found for part in parts if (found := _difference(*part))), None)


def _both_nan(mine, theirs) -> bool:
    """Whether both values are NaN, the same setting though ``==`` says not."""
    floats = isinstance(mine, float) and isinstance(theirs, float)
    return floats and math.isnan(mine) and math.isnan(theirs)


def _short(value) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the function calling this point at
    the first frame outside nudgenet (the user's line that called ``fit``, say), however deep
    in nudgenet the warning is raised (``fit`` runs itself again for ``distributed=True``), also
    from inside a ``with`` of nudgenet's context managers."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_NOT_THE_CALLER):
        frame, level = frame.f_back, level + 1
    return level
