"""The estimators' network: a nudgenet Sequential with scikit-learn's initial weights.

``Linear → activation [→ Dropout]`` per hidden layer, then ``Linear`` to the outputs (their
scores; the output function is applied outside, see :mod:`._losses`).  Weights and biases start
as scikit-learn's do, drawn in the same order from the same ``RandomState``: uniform in
``±√(factor / (fan_in + fan_out))``, factor 2 for the logistic activation and 6 otherwise, the
weights of a layer then its biases.  So the same ``random_state`` gives scikit-learn's very
starting point.  Dropout layers draw their masks from seeds drawn after the weights.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..nn import Dropout, Linear, Sequential, Sigmoid
from ..recipes.builders import ACTIVATIONS as NUDGENET_ACTIVATIONS

# scikit-learn's names, then nudgenet's (recipes.builders); "identity": no layer
ACTIVATIONS = {"identity": None, "logistic": Sigmoid, **NUDGENET_ACTIVATIONS}
LOGISTIC = ("logistic", "sigmoid")  # the activations whose initial weights use factor 2
NAMES = {layer: name for name, layer in reversed(ACTIVATIONS.items())}  # a layer's first name


def _rate(value) -> bool:
    """A number in [0, 1), not a bool (False is no rate, as True is none)."""
    return isinstance(value, Real) and not isinstance(value, bool) and 0 <= value < 1


def dropout_rates(dropout, hidden: int) -> list[float]:
    """One dropout rate per hidden layer from ``None``, one number, or one per layer;
    ValueError otherwise, and for a rate other than 0 without hidden layers (it would drop
    nothing)."""
    if dropout is None:
        return [0.0] * hidden
    one = np.ndim(dropout) == 0
    values = [dropout] if one else list(dropout)
    rates = values * hidden if one else values
    if not all(_rate(r) for r in values) or len(rates) != hidden:
        raise ValueError(
            f"dropout must be None, a rate in [0, 1) or one rate per hidden layer ({hidden}), "
            f"got {dropout!r}"
        )
    if not hidden and any(values):
        raise ValueError(
            f"dropout must be None or 0 without hidden layers (hidden_layer_sizes=()), got "
            f"{dropout!r}"
        )
    return [float(r) for r in rates]


def build_network(units: list[int], activation: str, dropout, dtype, rng) -> Sequential:
    """The network for layer sizes ``units`` (inputs, hidden..., outputs), initialised from the
    ``RandomState`` ``rng`` as scikit-learn does (module docstring)."""
    factor = 2.0 if activation in LOGISTIC else 6.0
    layers = []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        linear = Linear(fan_in, fan_out, init="zeros", dtype=dtype)
        linear.weight.data = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
        linear.bias.data = rng.uniform(-bound, bound, fan_out).astype(dtype)
        layers.append(linear)
    rates = dropout_rates(dropout, len(units) - 2)
    network = []
    for linear, rate in zip(layers[:-1], rates):
        network.append(linear)
        if ACTIVATIONS[activation] is not None:
            network.append(ACTIVATIONS[activation]())
        if rate:
            network.append(Dropout(rate, seed=int(rng.randint(np.iinfo(np.int32).max))))
    network.append(layers[-1])
    return Sequential(*network)


def linears(model: Sequential) -> list[Linear]:
    """The network's Linear layers, first to last."""
    return [layer for layer in model if isinstance(layer, Linear)]


def layout(hidden: int, activation: str, dropout, dtype) -> dict:
    """What :func:`build_network` makes of these arguments besides the layers' sizes, for
    ``hidden`` hidden layers, as :func:`layout_of` reads it from a network: the activation by
    its first name (``"sigmoid"`` is ``"logistic"``, the same layer; None without hidden
    layers), one dropout rate per hidden layer (0: no Dropout layer) and the dtype's name."""
    return {
        "activation": NAMES[ACTIVATIONS[activation]] if hidden else None,
        "dropout": dropout_rates(dropout, hidden),
        "dtype": np.dtype(dtype).name,
    }


def layout_of(model: Sequential) -> dict:
    """:func:`layout` of the network ``model``, read from its layers (so a network loaded
    from a file is described as it is)."""
    rates, activation = [], "identity"
    for layer in model:
        if isinstance(layer, Linear):
            rates.append(0.0)
        elif isinstance(layer, Dropout):
            rates[-1] = layer.p
        else:
            activation = NAMES.get(type(layer), type(layer).__name__)  # a hand-made file
    return {
        "activation": activation if len(rates) > 1 else None,
        "dropout": rates[:-1],
        "dtype": model.parameters()[0].dtype.name,
    }


def check_fitted(est, units: list[int], loss: str) -> None:
    """A warm fit or ``partial_fit`` trains the estimator ``est``'s fitted network on: a
    one-line ValueError where its parameters (with the layer sizes ``units`` and the loss
    ``loss`` they give now) ask for another one (other layer sizes, ``activation``,
    ``dropout``, ``dtype`` or loss), which it would otherwise train silently while
    ``get_params`` (and ``save``) described the other.  ``dtype`` None asks for the fitted
    network's.  The fitted network is read from its layers (:func:`layout_of`), so a warm fit
    with ``lbfgs`` never meets a Dropout layer of an ``adam`` fit."""
    fitted = {"layers": est._units, **layout_of(est._model), "loss": est._loss_rule}
    dtype = fitted["dtype"] if est.dtype is None else est.dtype
    wanted = {"layers": units, **layout(len(units) - 2, est.activation, est.dropout, dtype),
              "loss": loss}  # fmt: skip
    changed = [name for name in fitted if fitted[name] != wanted[name]]
    if changed:
        raise ValueError(
            f"{type(est).__name__}: warm_start/partial_fit needs the fitted network's "
            f"{_listed(f'{name} {fitted[name]!r}' for name in changed)}, got "
            f"{_listed(repr(wanted[name]) for name in changed)}"
        )


def _listed(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)
