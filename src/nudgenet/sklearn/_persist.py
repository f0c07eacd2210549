"""``est.save(path)`` / ``Estimator.load(path)``: a fitted estimator in a nudgenet model file.

The file is an ordinary nudgenet model (safetensors, no pickle; :func:`nudgenet.io.save`): the
network as ``to_nudgenet()`` gives it, so ``ng.load`` and the command line read it too.  Its
metadata holds the training record ``nudgenet train`` writes (:func:`record`: the task, the loss
the network's scores were trained with, the class and feature names), which ``nudgenet predict``
and ``export`` read, and under ``"sklearn"`` the estimator's class, its parameters (those JSON can
hold) and its fitted attributes.  Not kept: ``callbacks`` (Python objects; files hold no
pickle), so the loaded estimator's are None, its default; a ``RandomState`` given as
``random_state``, which loads as None (an int is kept); the solver's state (Adam's moments),
so ``partial_fit`` after ``load`` starts a new one.
Written only where :func:`nudgenet.files.may_write` allows (rank 0 of a data-parallel run).
``load`` refuses, with a one-line ModelFileError naming what is wrong, a file that holds another
estimator or none, lacks the fitted attributes every fit sets, or whose network is not the one
they describe (a hand-edited file): nothing half-loaded, nothing loaded silently wrong.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer

from .. import io
from ..errors import ModelFileError
from ..files import may_write
from ..nn import Sequential
from ..recipes.record import TrainingRecord
from ._losses import RULES
from ._network import linears

FITTED = (
    "n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_", "loss_",
    "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_",
    "validation_loss_curve_", "best_validation_loss_", "_units", "_loss_rule",
    "_no_improvement_count",
)  # fmt: skip
LOSSES = ("loss_", "loss_curve_", "best_loss_", "validation_loss_curve_", "best_validation_loss_")
Y_TYPES = ("binary", "multiclass", "multilabel-indicator")  # a LabelBinarizer's y_type_
# the fitted attributes every fit sets (a classifier's classes_ and y_type_ too)
REQUIRED = (
    "n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_", "_units",
    "_loss_rule",
)  # fmt: skip


def _plain(value, typed: bool = False):
    """``value`` as JSON holds it, so that :func:`_restored` gives it back: lists as lists,
    tuples as ``{"tuple": [...]}``, NumPy numbers as numbers, NumPy scalar types and dtypes as
    ``{"numpy_type": name}`` / ``{"numpy_dtype": name}``, dicts as
    ``{"pairs": [[key, value], ...]}`` (keys of any type); None for what JSON cannot hold.
    Ranges and arrays of numbers as lists, or where ``typed`` (a parameter, which ``get_params``
    must give back as it was set) as ``{"range": [start, stop, step]}`` and
    ``{"array": [...], "dtype": name}``."""
    if isinstance(value, dict):
        return {"pairs": [[_plain(k, typed), _plain(v, typed)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [_plain(v, typed) for v in value]}
    if typed and isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if typed and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"array": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, (list, range, np.ndarray)):
        return [_plain(v, typed) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, Integral, Real)):
        return value
    if isinstance(value, type) and issubclass(value, np.generic):
        return {"numpy_type": np.dtype(value).name}
    if isinstance(value, np.dtype):
        return {"numpy_dtype": value.name}
    return None


def _restored(value):
    """A parameter's value from what :func:`_plain` made of it."""
    if isinstance(value, list):
        return [_restored(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "pairs" in value:
        return {_restored(k): _restored(v) for k, v in value["pairs"]}
    if "tuple" in value:
        return tuple(_restored(v) for v in value["tuple"])
    if "range" in value:
        return range(*value["range"])
    if "array" in value:
        return np.array(value["array"], dtype=value["dtype"])
    if "numpy_type" in value:
        return np.dtype(value["numpy_type"]).type
    return np.dtype(value["numpy_dtype"])


def _as_losses(value):
    """A loss or a curve of them as fit keeps them: NumPy float64s (scikit-learn's type)."""
    if isinstance(value, list):
        return [_as_loss(v) for v in value]
    return None if value is None else _as_loss(value)


def _as_loss(value) -> np.float64:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"a loss is a number, got {value!r}")
    return np.float64(value)  # (OverflowError: an integer beyond float64)


def record(est) -> TrainingRecord:
    """The fitted ``est`` as ``nudgenet train`` records a model: the task and the nudgenet loss
    its network's scores were trained with (``BCEWithLogitsLoss`` for two classes or
    multilabel targets under ``log_loss``, ``CrossEntropyLoss`` for several classes, ``MSELoss``
    or ``PoissonLoss`` for a regressor), ``classes_`` as the class names where they are the
    classes a row is one of (not the label columns of multilabel targets), and
    ``feature_names_in_`` (a DataFrame's columns) as the feature names.  Nothing of a data set
    (``TrainingRecord.to_dict`` leaves its fields out): the estimator was fitted on arrays."""
    loss = RULES[est._loss_rule].make()
    binarizer = getattr(est, "_label_binarizer", None)  # a classifier's
    classes = binarizer is not None and not binarizer.y_type_.startswith("multilabel")
    names = tuple(str(c) for c in est.classes_) if classes else ()
    features = tuple(str(name) for name in getattr(est, "feature_names_in_", ()))
    return TrainingRecord(task=loss.task, loss=type(loss).__name__, class_names=names,
                          feature_names=features)  # fmt: skip


def metadata(est) -> dict:
    """The model file's metadata: the training record (:func:`record`) and, under
    ``"sklearn"``, what :func:`load` needs besides the network, as JSON."""
    fitted = {name: _plain(getattr(est, name)) for name in FITTED if hasattr(est, name)}
    if hasattr(est, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in est.feature_names_in_]
    if hasattr(est, "classes_"):
        classes = est.classes_  # dates and durations as their counts of the dtype's unit
        values = classes.view(np.int64) if classes.dtype.kind in "mM" else classes
        fitted["classes_"] = {"values": _plain(values), "dtype": classes.dtype.str}
        fitted["y_type_"] = est._label_binarizer.y_type_
        fitted["sparse_input_"] = bool(est._label_binarizer.sparse_input_)  # predict's type
    params = {
        k: _plain(v, typed=True) for k, v in est.get_params(deep=False).items() if k != "callbacks"
    }
    sklearn = {"class": type(est).__name__, "params": params, "fitted": fitted}
    return {**record(est).to_dict(), "sklearn": sklearn}


def save(est, path) -> Path:
    path = Path(path)
    if may_write():
        io.save(est.to_nudgenet(), path, metadata=metadata(est))
    return path


def load(cls, path):
    """An estimator of class ``cls`` from the file ``path``; ModelFileError for a file that
    holds another estimator or none, lacks what every fit sets, or whose network is not the one
    its fitted attributes describe (:func:`_check_network`)."""
    model = io.load(path)
    info = (model.metadata or {}).get("sklearn")
    if not isinstance(info, dict) or info.get("class") != cls.__name__:
        found = info.get("class") if isinstance(info, dict) else "no scikit-learn estimator"
        raise ModelFileError(f"{path}: expected a saved {cls.__name__}, the file holds {found}")
    est = _estimator(cls, info, path)
    _check_network(est, model, path)
    model.eval()  # as after fit: predict switches no shared state
    est._model, est._solver = model, None
    est._publish()
    return est


def _estimator(cls, info: dict, path):
    """The estimator ``info`` (the file's ``"sklearn"`` metadata) describes, without its
    network; ModelFileError naming what is missing or cannot be restored."""
    params, fitted = info.get("params"), info.get("fitted")
    for key, value in (("params", params), ("fitted", fitted)):
        if not isinstance(value, dict):
            got = "none" if value is None else f"a JSON {type(value).__name__}"
            raise ModelFileError(
                f"{path}: expected the saved {cls.__name__}'s {key!r}, a JSON object of "
                f"{'parameters' if key == 'params' else 'fitted attributes'}, got {got}"
            )
    required = REQUIRED + (("classes_", "y_type_") if issubclass(cls, ClassifierMixin) else ())
    missing = [name for name in required if name not in fitted]
    if missing:
        raise ModelFileError(
            f"{path}: the saved {cls.__name__} lacks the fitted attributes every fit sets: "
            f"{', '.join(missing)}"
        )
    try:
        est = cls(**{k: _restored(v) for k, v in params.items()})
        fitted = dict(fitted)
        if "classes_" in fitted:
            classes = fitted.pop("classes_")
            binarizer = LabelBinarizer()
            binarizer.classes_ = np.asarray(classes["values"], dtype=np.dtype(classes["dtype"]))
            binarizer.y_type_ = fitted.pop("y_type_")
            binarizer.sparse_input_ = bool(fitted.pop("sparse_input_", False))
            est._label_binarizer, est.classes_ = binarizer, binarizer.classes_
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted.pop("feature_names_in_"), dtype=object)
        for name, value in fitted.items():
            value = _restored(value)
            setattr(est, name, _as_losses(value) if name in LOSSES else value)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        why = f"a value lacks the key {error}" if isinstance(error, KeyError) else error
        raise ModelFileError(
            f"{path}: the saved {cls.__name__} cannot be restored: {why}"
        ) from None
    return est


def _check_network(est, model, path) -> None:
    """ModelFileError unless ``model`` is the network ``est``'s fitted attributes describe: its
    Linear layers of the sizes ``_units`` (inputs, hidden..., outputs), which
    ``n_features_in_``, ``n_outputs_`` and ``n_layers_`` repeat; ``out_activation_`` the output
    function of the loss ``_loss_rule``; a classifier's outputs those its classes need."""
    layers = linears(model) if isinstance(model, Sequential) else []
    sizes = [layer.weight.shape[0] for layer in layers[:1]] + [
        layer.weight.shape[1] for layer in layers
    ]
    rule = RULES.get(est._loss_rule) if isinstance(est._loss_rule, str) else None
    counts = [est.n_features_in_, est.n_outputs_, est.n_layers_]
    checks = [
        (sizes == est._units, f"the layer sizes _units {est._units!r}, got {sizes}"),
        (
            len(sizes) > 1 and counts == [sizes[0], sizes[-1], len(sizes)],
            f"n_features_in_, n_outputs_, n_layers_ of the layer sizes {sizes}, got {counts}",
        ),
        (
            rule is not None and est.out_activation_ == rule.out_activation,
            f"the output function of the loss _loss_rule {est._loss_rule!r} (one of "
            f"{sorted(RULES)}), got out_activation_ {est.out_activation_!r}",
        ),
    ]
    kind = getattr(est, "_label_binarizer", None) and est._label_binarizer.y_type_
    if kind not in (None, *Y_TYPES):
        checks.append((False, f"y_type_ one of {', '.join(Y_TYPES)}, got {kind!r}"))
    elif kind and rule is not None and sizes:
        outputs = est._class_outputs(rule)
        what = f"{len(est.classes_)} classes ({kind})"
        checks.append((sizes[-1] == outputs, f"{outputs} outputs for {what}, got {sizes[-1]}"))
    for ok, expected in checks:
        if not ok:
            raise ModelFileError(
                f"{path}: the network does not match the saved {type(est).__name__}: expected "
                f"{expected}"
            )

