"""Loss objects: ``loss_fn(prediction, target)`` returns a scalar tensor.

Each loss also knows its task, so no caller has to ask which loss it holds:

- ``task``: ``"classification"`` or ``"regression"``;
- ``output_units(n)``: units of the last layer for ``n`` classes (a regression: ``n`` target
  columns);
- ``check_targets(y, n_outputs)``: the targets as the loss wants them for a model of
  ``n_outputs`` output units (e.g. a float 0/1 column from integer labels for one logit, integer
  labels from whole-number floats), or a one-line error naming what was expected and what came;
- ``predict_classes(outputs)``: int64 class labels, one per row;
- ``predict_labels(outputs)``: what the model predicts per row: its class (``predict_classes``),
  except that the binary losses' several columns are independent 0/1 labels (multilabel
  targets): then a row of C labels, each 1 above the loss's threshold;
- ``probabilities(outputs)``: one column per class, each row summing to 1 (a regression has
  none: an error; the binary losses' several columns are independent 0/1 labels);
- ``predict_values(outputs)`` (a regression's losses): the values the model predicts, the
  outputs as they are for ``MSELoss``, their exponential for ``PoissonLoss`` (log-means).

One output column scores two classes (0 and 1): its probabilities come back as the two columns
``P(0) = 1 − p, P(1) = p``, so every classifier's probabilities have a column per class.

``loss_fn(prediction, target, sample_weight=None)``: ``sample_weight`` (Keras's name) gives each
row a weight; the loss is then the weighted mean (see :mod:`nudgenet.functional.losses`).
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import zlib
from typing import NoReturn

import numpy as np

from .. import functional as F
from ..backend import get_default_dtype
from ..data._convert import whole
from ..errors import ShapeError
from ..functional import kernels as K
from ..functional.losses import check_reduction, check_weights, class_targets, counts
from ..tensor import Tensor


def loss_identity(loss_fn, depth: int = 0) -> str:
    """A loss as runs compare it (the ranks of a distributed fit or evaluate, a checkpoint and
    the fit resuming it), the same in every process (a default repr's memory address is not):
    a function by its module, name and a CRC-32 of its code, constants, defaults and closure;
    a ``functools.partial`` by its function and arguments; a bound method by its object and
    name; an object with ``object``'s repr by its class and attributes (to a depth of 4); anything
    else by its repr, addresses left out."""
    inner = functools.partial(loss_identity, depth=depth + 1)
    if depth > 4:
        return type(loss_fn).__qualname__
    if isinstance(loss_fn, functools.partial):
        arguments = [*map(inner, loss_fn.args),
                     *(f"{k}={inner(v)}" for k, v in sorted(loss_fn.keywords.items()))]
        return f"partial({', '.join([inner(loss_fn.func), *arguments])})"  # fmt: skip
    if isinstance(loss_fn, types.MethodType):
        return f"{inner(loss_fn.__self__)}.{loss_fn.__func__.__name__}"
    if isinstance(loss_fn, types.FunctionType):
        code, cells = loss_fn.__code__, loss_fn.__closure__ or ()
        parts = [code.co_code, code.co_consts, loss_fn.__defaults__, loss_fn.__kwdefaults__,
                 [inner(cell.cell_contents) for cell in cells]]  # fmt: skip
        digest = zlib.crc32(_without_addresses(repr(parts)).encode())
        return f"{loss_fn.__module__}.{loss_fn.__qualname__} (code {digest:08x})"
    if type(loss_fn).__repr__ is object.__repr__:
        state = getattr(loss_fn, "__dict__", {})
        attributes = ", ".join(f"{k}={inner(v)}" for k, v in sorted(state.items()))
        return f"{type(loss_fn).__module__}.{type(loss_fn).__qualname__}({attributes})"
    return _without_addresses(repr(loss_fn))


def _without_addresses(text: str) -> str:
    """``text`` without memory addresses; past 200 characters (a closure's or an attribute's
    long list), its start and a CRC-32 of all of it, so that a checkpoint stays small."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    return text if len(text) <= 200 else f"{text[:100]}... (CRC-32 {zlib.crc32(text.encode())})"


def reduction_of(loss_fn) -> str:
    """How ``loss_fn`` reduces over rows, ``"mean"`` or ``"sum"``: its ``reduction`` (the loss
    classes), a ``functools.partial``'s ``reduction=``, else the default of its ``reduction``
    parameter (``F.cross_entropy``); a function without one is taken as a mean over rows."""
    if isinstance(loss_fn, functools.partial):
        return loss_fn.keywords.get("reduction") or reduction_of(loss_fn.func)
    found = getattr(loss_fn, "reduction", None)
    if isinstance(found, str):
        return found
    try:
        parameter = inspect.signature(loss_fn).parameters.get("reduction")
    except (TypeError, ValueError):  # no signature to read
        parameter = None
    default = getattr(parameter, "default", None)
    return default if isinstance(default, str) else "mean"


def is_mean_over_rows(loss_fn) -> bool:
    """Whether ``loss_fn`` is a mean over rows (:func:`reduction_of` is ``"mean"``), not a sum:
    an epoch's loss is then the rows' mean, and a data-parallel rank's share weighs by its rows."""
    return reduction_of(loss_fn) == "mean"


def scores_to_classes(outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class labels from scores: the argmax of several columns; one column (or a vector) is
    class 1 where it is above ``threshold``, else 0."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1).astype(np.int64)
    return (outputs.reshape(len(outputs), -1)[:, 0] > threshold).astype(np.int64)


def target_classes(targets) -> np.ndarray:
    """The class of each row of targets, as int64: integer labels as they are; probability or
    one-hot rows ``(N, C)``: the argmax; a column (or vector) of 0/1 labels: the label, rounded
    to the nearest whole number (a soft label above 0.5 is class 1, as the argmax of its two
    columns ``[1 − y, y]`` would say)."""
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] > 1:
        return targets.argmax(axis=1).astype(np.int64)
    targets = targets.reshape(-1)
    return (
        targets.astype(np.int64)
        if targets.dtype.kind in "iub"
        else np.rint(targets).astype(np.int64)
    )


def _whole_labels(name: str, y: np.ndarray, classes: int) -> np.ndarray:
    """Float labels that are whole numbers (``0.0, 1.0, ...``; the data loaders' rule,
    :func:`nudgenet.data._convert.whole`) as int64; a one-line error naming the first row that is
    not."""
    bad = np.flatnonzero(~whole(y))
    if len(bad):
        raise ValueError(
            f"{name}: labels must be whole numbers 0..{classes - 1}; got {y[bad[0]]:g} at row "
            f"{bad[0]}"
        )
    return y.astype(np.int64)


def _rows(name: str, outputs) -> np.ndarray:
    outputs = np.asarray(outputs)
    if outputs.ndim != 2:
        raise ShapeError(f"{name}: expected outputs of shape (N, units), got shape {outputs.shape}")
    return outputs


def _targets(name: str, y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 0:
        raise ShapeError(f"{name}: expected targets with one row per sample, got a scalar")
    return y


def _float_columns(name: str, y, n_outputs: int, what: str) -> np.ndarray:
    """Targets of shape ``(N, n_outputs)`` (``(N,)`` for one output: made a column), as floats
    (integers and booleans in the default dtype); a NaN or infinity among them is a ValueError
    naming its row (training on it would stop as a diverged loss, blaming the learning rate)."""
    y = _targets(name, y)
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs or y.dtype.kind not in "iubf":
        raise ShapeError(
            f"{name}: expected {what} of shape (N, {n_outputs}) for {n_outputs} output unit(s), "
            f"got {y.dtype} array of shape {y.shape}"
        )
    if y.dtype.kind != "f":
        return y.astype(get_default_dtype())
    if not np.isfinite(y).all():
        row, column = np.argwhere(~np.isfinite(y))[0]
        where = f"row {row}" + (f", column {column}" if n_outputs > 1 else "")
        raise ValueError(f"{name}: targets must be finite numbers; got {y[row, column]} at "
                         f"{where} (missing data?)")  # fmt: skip
    return y


def _two_columns(p: np.ndarray) -> np.ndarray:
    """Probabilities of one column (P(1)) as two, ``[1 − p, p]``; several columns as they are."""
    return np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p


class _Loss:
    _fn = None
    task = "classification"
    _threshold = 0.5  # where one output column splits class 0 from class 1

    def __init__(self, reduction: str = "mean"):
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def _options(self) -> dict:
        """The loss's own weights, passed to its function (none here)."""
        return {}

    def __call__(self, prediction, target, sample_weight=None) -> Tensor:
        return type(self)._fn(
            prediction,
            target,
            reduction=self.reduction,
            sample_weight=sample_weight,
            **self._options(),
        )

    def __repr__(self) -> str:
        options = "".join(
            f", {name}={value.tolist()}"
            for name, value in self._options().items()
            if value is not None
        )
        return f"{type(self).__name__}(reduction={self.reduction!r}{options})"

    def output_units(self, n: int) -> int:
        """One output unit per class."""
        return n

    def predict_classes(self, outputs: np.ndarray) -> np.ndarray:
        """The argmax of several columns; one column is class 1 above the loss's threshold."""
        return scores_to_classes(outputs, self._threshold)

    def predict_labels(self, outputs: np.ndarray) -> np.ndarray:
        """What the model predicts per row: its class, :meth:`predict_classes` (the binary
        losses read several columns as independent labels instead)."""
        return self.predict_classes(outputs)

    def check_targets(self, y, n_outputs: int) -> np.ndarray:
        """Integer labels in ``[0, n_outputs)`` of shape ``(N,)`` (floats that are whole numbers,
        ``0.0, 1.0, ...``, made int64 labels), or probability rows ``(N, n_outputs)``; a model
        of one output column is refused (PyTorch trains it, to a loss of 0 from the start)."""
        name = type(self).__name__
        if n_outputs == 1:
            raise ShapeError(
                f"{name}: the model has 1 output column, and a softmax over one column is always "
                "1 (its loss is 0 whatever the labels): a classifier needs one output per class "
                "(2 or more); for two classes in one column use BCEWithLogitsLoss"
            )
        y = _targets(name, y)
        if y.ndim == 1 and y.dtype.kind == "f":
            y = _whole_labels(name, y, n_outputs)
        return class_targets(name, y, (len(y), n_outputs), y.dtype, dense=False)


class MSELoss(_Loss):
    """Mean squared error over every element (regression).  ``predict_classes`` still reads
    outputs as scores (argmax, or one column split at 0.5), for networks trained on one-hot or
    0/1 targets with the squared error."""

    _fn = staticmethod(F.mse_loss)
    task = "regression"

    def check_targets(self, y, n_outputs: int) -> np.ndarray:
        """Values of shape ``(N, n_outputs)`` (``(N,)`` for one output: made a column), as
        floats."""
        return _float_columns("MSELoss", y, n_outputs, "numeric targets")

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return _no_probabilities(type(self).__name__)

    def predict_values(self, outputs: np.ndarray) -> np.ndarray:
        """The predicted values: the outputs as they are."""
        return outputs


class PoissonLoss(_Loss):
    """Half the Poisson deviance of log-means (:func:`~nudgenet.functional.poisson_loss`):
    regression of counts or rates y ≥ 0, scikit-learn's ``poisson`` loss per output.  The
    network outputs log-means z, so the predicted values are their exponential
    (:meth:`predict_values`), as ``MLPRegressor(loss="poisson")`` predicts.  PyTorch's
    ``PoissonNLLLoss(log_input=True)`` is ``e^z − y z``: the same gradient in z; the terms in y
    alone here make a perfect fit's loss 0, as scikit-learn's, whose numbers the estimators report.
    Keras's ``Poisson`` takes the means themselves, not their logarithms."""

    _fn = staticmethod(F.poisson_loss)
    task = "regression"

    def check_targets(self, y, n_outputs: int) -> np.ndarray:
        """Non-negative values of shape ``(N, n_outputs)``, as floats (MSELoss's rule first)."""
        return counts("PoissonLoss", MSELoss().check_targets(y, n_outputs))

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return _no_probabilities(type(self).__name__)

    def predict_values(self, outputs: np.ndarray) -> np.ndarray:
        """The predicted means: the exponential of the outputs (log-means)."""
        return np.exp(outputs)


def _no_probabilities(name: str) -> NoReturn:
    raise ValueError(
        f"{name}: a regression's outputs are values, not class probabilities; a "
        "classifier's loss (CrossEntropyLoss, BCEWithLogitsLoss, ...) has them"
    )


def _weight_vector(name: str, option: str, weight, per: str) -> np.ndarray | None:
    """A loss's ``weight`` / ``pos_weight``: None, or a vector of non-negative numbers."""
    if weight is None:
        return None
    weight = np.atleast_1d(np.asarray(weight, dtype=np.float64))
    return check_weights(name, option, weight, len(weight), np.float64, per)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits; targets are integer labels or probability rows.
    Probabilities: the softmax of the logits.

    ``weight`` (PyTorch's): one weight per class; with integer labels the loss is the weighted
    mean Σ w[yₙ] ℓₙ / Σ w[yₙ], with probability rows each class's term is weighted and the mean
    divides by N (:func:`~nudgenet.functional.cross_entropy`)."""

    _fn = staticmethod(F.cross_entropy)

    def __init__(self, reduction: str = "mean", *, weight=None):
        super().__init__(reduction)
        self.weight = _weight_vector("CrossEntropyLoss", "weight", weight, "class")

    def _options(self) -> dict:
        return {"weight": self.weight}

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return K.softmax(_rows("CrossEntropyLoss", outputs), axis=1)


class CategoricalCrossEntropyLoss(_Loss):
    """Cross-entropy of probabilities (after a Softmax layer), clipped so p = 0 stays finite.
    Probabilities: the outputs, as they are."""

    _fn = staticmethod(F.categorical_cross_entropy)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return _rows("CategoricalCrossEntropyLoss", outputs)


class _Binary(_Loss):
    """Shared by the binary losses: one output unit scores two classes (several units: one
    independent 0/1 label each)."""

    def output_units(self, n: int) -> int:
        """One unit for two classes; more classes are an error."""
        if n != 2:
            raise ValueError(
                f"{type(self).__name__}: one output unit scores two classes, got {n} classes "
                "(use CrossEntropyLoss for more)"
            )
        return 1

    def predict_labels(self, outputs: np.ndarray) -> np.ndarray:
        """Several columns: independent 0/1 labels (multilabel targets), ``(N, C)`` int64, each
        1 where its column is above the threshold, as scikit-learn's multilabel MLP predicts;
        one column: :meth:`predict_classes`."""
        outputs = np.asarray(outputs)
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            return (outputs > self._threshold).astype(np.int64)
        return self.predict_classes(outputs)

    def check_targets(self, y, n_outputs: int) -> np.ndarray:
        """Labels 0/1 (or probabilities in [0, 1]) of shape ``(N, n_outputs)`` (``(N,)`` for one
        output: made a column), as floats."""
        name = type(self).__name__
        y = _float_columns(name, y, n_outputs, "labels 0/1")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"{name}: expected labels 0/1 (or probabilities in [0, 1]), got values from "
                f"{y.min():g} to {y.max():g}"
            )
        return y


class BCELoss(_Binary):
    """Binary cross-entropy of probabilities (after a Sigmoid layer).  Probabilities: one
    column p is ``[1 − p, p]``, several are as they are; class 1 where p > 0.5."""

    _fn = staticmethod(F.binary_cross_entropy)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return _two_columns(_rows("BCELoss", outputs))


class BCEWithLogitsLoss(_Binary):
    """Binary cross-entropy from logits, numerically stable.  Probabilities: σ(z), one column
    as ``[1 − σ(z), σ(z)]``; class 1 where the logit z > 0 (σ(z) > 0.5, without rounding).

    ``pos_weight`` (PyTorch's): a number or one per output column, multiplying the loss of the
    positive labels (e.g. negatives / positives for a rare class 1)."""

    _fn = staticmethod(F.binary_cross_entropy_with_logits)
    _threshold = 0.0

    def __init__(self, reduction: str = "mean", *, pos_weight=None):
        super().__init__(reduction)
        self.pos_weight = _weight_vector("BCEWithLogitsLoss", "pos_weight", pos_weight, "column")

    def _options(self) -> dict:
        return {"pos_weight": self.pos_weight}

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return _two_columns(K.sigmoid(_rows("BCEWithLogitsLoss", outputs)))
