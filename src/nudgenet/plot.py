"""Figures of learning: training curves, first-layer weights, one example's nudges, gradient norms,
and a small network drawn with its weights and gradients.

matplotlib is an optional extra (``pip install nudgenet[plot]``), imported only when a figure is
drawn.  Figures are built on matplotlib's Agg canvas directly (no pyplot, no global backend
switch), have a fixed size in pixels (``size=(width, height)`` at 100 dpi, so a saved PNG is
exactly that size), and are returned; pass ``path`` to also write them (PNG, SVG, PDF: by suffix).

Inputs are drawn as images when ``image_shape=(height, width)`` says so, or, by default
(``image_shape=None``), when the feature count is a square of side 8 or more (8×8 digits, 28×28
MNIST); a table of 4 or 9 features is not a tiny image.  ``image_shape=False``: never an image.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .diagnostics import per_layer
from .nn.layers import Dropout, Identity, Linear, leaf_layers
from .nn.module import Module

if TYPE_CHECKING:  # for annotations only: explain.py sits above this module
    from .explain import Explanation

DPI = 100
_METRICS = ("accuracy", "rmse", "mae", "mse")


def _matplotlib_canvas():
    """matplotlib's Agg canvas class, or an ImportError naming the extra to install."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "nudgenet's figures need matplotlib, an optional extra: pip install 'nudgenet[plot]'"
        ) from None
    return FigureCanvasAgg


def check_figure_path(path) -> Path:
    """``path`` as a Path, once matplotlib is known to be installed and to write its suffix.

    Call it before long work whose result is a figure, so a missing extra or a ``.jpeg`` typo
    fails at once.  No suffix means PNG.  Raises ImportError or ValueError.
    """
    path = Path(path)
    formats = _matplotlib_canvas().get_supported_filetypes()
    if path.suffix and path.suffix[1:].lower() not in formats:
        raise ValueError(
            f"cannot write a figure to {path}: expected one of the suffixes "
            f"{', '.join('.' + name for name in sorted(formats))}, got {path.suffix!r}"
        )
    return path


def _figure(size: tuple[int, int]):
    """A matplotlib Figure of ``size`` pixels on an Agg canvas."""
    canvas = _matplotlib_canvas()
    from matplotlib.figure import Figure

    width, height = size
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    canvas(figure)
    return figure


def _finish(figure, path):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
    return figure


def _series(history) -> dict[str, list[float]]:
    return dict(history.history if hasattr(history, "history") else history)


def _epoch_axis(ax) -> None:
    """Label the x axis "epoch", with ticks at whole epochs only (no 1.5)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


MIN_IMAGE_SIDE = 8  # the smallest square inferred to be an image: the 8×8 digits


def _image_shape(features: int, image_shape) -> tuple[int, int] | None:
    """The (height, width) to draw ``features`` inputs as, or None for not an image (see the
    module doc: a given shape, False, or None to infer squares of side >= 8)."""
    if image_shape is False:
        return None
    if image_shape is not None:
        shape = tuple(int(n) for n in image_shape)
        if math.prod(shape) != features:
            raise ValueError(f"image_shape {shape} does not hold {features} input features")
        return shape
    side = math.isqrt(features)
    return (side, side) if side * side == features and side >= MIN_IMAGE_SIDE else None


def _first_linear(model: Module) -> Linear:
    for _, layer in leaf_layers(model):
        if isinstance(layer, Linear):
            return layer
    raise ValueError("the model has no Linear layer to draw")


def _input_name(model: Module, traces) -> str:
    """The input nodes' label: "input", or "input after <layers>" naming what ``model`` applies
    to its inputs before the Linear layer of the first trace (skipping Dropout and Identity:
    identities in eval mode, where explain runs).

    Every trace must name a Linear layer of ``model`` whose weights equal the trace's, else
    ValueError: an explanation of another model, even one of the same layout, is refused."""
    layers = list(leaf_layers(model))
    linears = {name: layer for name, layer in layers if isinstance(layer, Linear)}
    for trace in traces:
        layer = linears.get(trace.name)
        if layer is None:
            raise ValueError(
                f"plot_network: expected an explanation of this model, but its layer "
                f"{trace.name!r} is not a Linear layer of the model"
            )
        if not np.array_equal(layer.weight.data, trace.weight):
            raise ValueError(
                f"plot_network: expected an explanation of this model, but its layer "
                f"{trace.name!r} has other weights than the model's (shape "
                f"{trace.weight.shape}, the model's {layer.weight.shape})"
            )
    first = [name for name, _ in layers].index(traces[0].name)
    before = [
        type(layer).__name__
        for _, layer in layers[:first]
        if not isinstance(layer, (Dropout, Identity))
    ]
    return f"input after {', '.join(before)}" if before else "input"


# --- training --------------------------------------------------------------------------------
def plot_history(history, path=None, size: tuple[int, int] = (1000, 400)):
    """Training curves: loss, and accuracy (or rmse / mae / mse), for train and validation.

    ``history`` is :func:`~nudgenet.fit`'s History (or its ``history`` dict)."""
    series = _series(history)
    if "loss" not in series:
        raise ValueError(f"plot_history: no 'loss' in the history (it has {sorted(series)})")
    metric = next((m for m in _METRICS if m in series), None)
    figure = _figure(size)
    axes = figure.subplots(1, 2 if metric else 1, squeeze=False)[0]
    for ax, name in zip(axes, ["loss", metric]):
        epochs = np.arange(1, len(series[name]) + 1)
        ax.plot(epochs, series[name], marker="o", ms=3, label=f"train {name}")
        if f"val_{name}" in series:
            ax.plot(epochs, series[f"val_{name}"], marker="o", ms=3, label=f"validation {name}")
        _epoch_axis(ax)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _finish(figure, path)


def plot_gradient_norms(history, path=None, size: tuple[int, int] = (1000, 400)):
    """Per-layer gradient norms over epochs (log scale) and, where recorded, the fraction of dead
    ReLU units: the ``grad_norm/<layer>`` and ``dead_units/<layer>`` series that
    ``fit(..., diagnostics=True)`` writes."""
    series = _series(history)
    norms, dead = per_layer(series, "grad_norm"), per_layer(series, "dead_units")
    if not norms:
        raise ValueError(
            "plot_gradient_norms: the history has no grad_norm/<layer> series; train with "
            "fit(..., diagnostics=True)"
        )
    figure = _figure(size)
    axes = figure.subplots(1, 2 if dead else 1, squeeze=False)[0]
    for layer, values in norms.items():
        axes[0].semilogy(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=layer)
    axes[0].set_title("gradient norm per layer  ‖∂C/∂W, ∂C/∂b‖")
    if dead:
        for layer, values in dead.items():
            axes[1].plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=layer)
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_title("dead ReLU units (never fired in the epoch)")
    for ax in axes:
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(title="layer")
    return _finish(figure, path)


# --- weights and one example -----------------------------------------------------------------
def _image_grid(figure, spec, images: list[np.ndarray], titles: list[str], symmetric: bool):
    columns = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / columns))
    grid = spec.subgridspec(rows, columns, wspace=0.05, hspace=0.25)
    for k in range(rows * columns):
        ax = figure.add_subplot(grid[k // columns, k % columns])
        ax.set_axis_off()
        if k >= len(images):
            continue
        image = images[k]
        limit = float(np.abs(image).max()) or 1.0
        ax.imshow(
            image,
            cmap="RdBu_r" if symmetric else "gray",
            vmin=-limit if symmetric else None,
            vmax=limit if symmetric else None,
            interpolation="nearest",
        )
        ax.set_title(titles[k], fontsize=8)


def plot_weights(
    model: Module,
    path=None,
    image_shape=None,
    units: int | None = 16,
    size: tuple[int, int] = (700, 700),
):
    """The first Linear layer's weights into each of its first ``units`` hidden units, one image
    per unit (column ``W[:, j]`` reshaped to ``image_shape``: 28×28 for MNIST, 8×8 for digits,
    inferred for square inputs of side >= 8).  Red is positive, blue negative."""
    layer = _first_linear(model)
    shape = _image_shape(layer.in_features, image_shape)
    if shape is None:
        raise ValueError(
            f"plot_weights: expected image inputs, got {layer.in_features} input features that "
            "are not a square image of side >= 8 (or image_shape=False); pass "
            "image_shape=(height, width)"
        )
    count = layer.out_features if units is None else min(units, layer.out_features)
    weights = layer.weight.data.astype(np.float64)
    figure = _figure(size)
    figure.suptitle(f"first-layer weights W[:, j] ({layer.in_features} → {layer.out_features})")
    spec = figure.add_gridspec(1, 1)[0]
    images = [weights[:, j].reshape(shape) for j in range(count)]
    _image_grid(figure, spec, images, [f"unit {j}" for j in range(count)], symmetric=True)
    return _finish(figure, path)


def plot_explanation(
    explanation: Explanation,
    path=None,
    image_shape=None,
    units: int = 6,
    size: tuple[int, int] = (1100, 700),
    label: str | None = None,
):
    """One example seen by backprop: its input (an image where the features make one), the
    output nudges ``−∂C/∂a`` as a bar chart (up green, down red), and ``∂C/∂W`` of the first layer
    for the ``units`` hidden units it affects most (largest ``‖∂C/∂W[:, j]‖``) as images.
    ``label`` names the input in its title (default: "input").

    ``explanation`` must be of one example (``explain(model, loss_fn, x[k], y[k])``): every panel
    then shows that example.  A batch's gradients are the mean over its rows, so they are not
    any one row's, and a batch raises ValueError."""
    if explanation.batch_size != 1:
        raise ValueError(
            f"plot_explanation draws one example: expected an explanation of 1 row, got "
            f"{explanation.batch_size} (whose gradients are their mean); explain one row, "
            "explain(model, loss_fn, x[k], y[k])"
        )
    first = explanation.layers[0] if explanation.layers else None
    x, nudges = explanation.x[0], explanation.nudges[0]
    shape = _image_shape(x.size, image_shape)
    figure = _figure(size)
    outer = figure.add_gridspec(2, 2, height_ratios=[1, 1.3], width_ratios=[1, 2])
    ax = figure.add_subplot(outer[0, 0])
    if shape is not None:
        ax.imshow(x.reshape(shape), cmap="gray_r", interpolation="nearest")
        ax.set_axis_off()
    else:
        ax.bar(np.arange(x.size), x)
        ax.set_xlabel("input feature")
    ax.set_title(label or "input")
    ax = figure.add_subplot(outer[0, 1])
    colours = ["tab:green" if v > 0 else "tab:red" for v in nudges]
    ax.bar(np.arange(nudges.size), nudges, color=colours)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(nudges.size))
    ax.set_xlabel("output unit")
    ax.set_title("desired output nudges  −∂C/∂a")
    if first is not None:
        grad = first.weight_grad.astype(np.float64)
        strength = np.linalg.norm(grad, axis=0)
        chosen = np.argsort(-strength, kind="stable")[: min(units, grad.shape[1])]
        titles = [f"unit {j}: |∂C/∂W| {strength[j]:.2g}" for j in chosen]
        if shape is not None:
            images = [grad[:, j].reshape(shape) for j in chosen]
        else:
            images = [grad[:, j].reshape(1, -1) for j in chosen]
        _image_grid(figure, outer[1, :], images, titles, symmetric=True)
    figure.suptitle(
        f"{explanation.loss_name} = {explanation.loss:.4g}; bottom: ∂C/∂W of the first layer "
        "for the most-affected hidden units (red: weight should go down)"
    )
    return _finish(figure, path)


def plot_network(
    model: Module,
    explanation: Explanation,
    path=None,
    max_units: int = 10,
    size: tuple[int, int] = (1000, 650),
):
    """A small network drawn as a graph: an edge per weight, coloured by its value (red positive,
    blue negative) and as thick as its ``|∂C/∂W|`` for the explained example(s); units are
    shaded by their activation.  Every layer must have at most ``max_units`` units.

    ``explanation`` is of ``model`` (its Linear layers, by name and weights; else ValueError),
    which names what the input nodes show: the first Linear layer's inputs, "input after
    Standardize" where the model standardises them first."""
    layers = list(explanation.layers)
    if not layers:
        raise ValueError("plot_network: the explanation has no Linear layer")
    input_name = _input_name(model, layers)
    sizes = [layers[0].weight.shape[0]] + [t.weight.shape[1] for t in layers]
    if max(sizes) > max_units:
        raise ValueError(
            f"plot_network draws networks of at most {max_units} units a layer; this one has "
            f"layers of {sizes} units (raise max_units to draw it anyway)"
        )
    from matplotlib import colormaps, colors

    figure = _figure(size)
    ax = figure.add_subplot(1, 1, 1)
    ax.set_axis_off()

    def position(layer: int, unit: int) -> tuple[float, float]:
        n = sizes[layer]
        return float(layer), ((n - 1) / 2 - unit) / max(max(sizes) - 1, 1)  # unit 0 on top

    weight_limit = max(float(np.abs(t.weight).max()) for t in layers) or 1.0
    grad_limit = max(float(np.abs(t.weight_grad).max()) for t in layers) or 1.0
    weight_colour = colors.Normalize(-weight_limit, weight_limit)
    cmap = colormaps["RdBu_r"]
    for k, trace in enumerate(layers):
        w, g = trace.weight, trace.weight_grad
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                (x0, y0), (x1, y1) = position(k, i), position(k + 1, j)
                ax.plot(
                    [x0, x1],
                    [y0, y1],
                    color=cmap(weight_colour(w[i, j])),
                    lw=0.3 + 5.0 * abs(g[i, j]) / grad_limit,
                    alpha=0.85,
                    zorder=1,
                )
    activations = [layers[0].inputs.mean(axis=0)] + [t.a.mean(axis=0) for t in layers]
    for k, values in enumerate(activations):
        limit = float(np.abs(values).max()) or 1.0
        for unit, value in enumerate(values):
            x, y = position(k, unit)
            ax.scatter(
                [x],
                [y],
                s=380,
                c=[[1 - abs(value) / limit * 0.8] * 3],
                edgecolors="black",
                zorder=2,
            )
            ax.annotate(
                f"{value:.2f}",
                (x, y),
                ha="center",
                va="center",
                fontsize=6,
                zorder=3,
                color="white" if abs(value) / limit > 0.6 else "black",
            )
    names = [input_name] + [f"{t.name} ({t.activation})" for t in layers]
    for k, name in enumerate(names):
        ax.annotate(name, (k, -0.62), ha="center", fontsize=9)
    ax.set_xlim(-0.4, len(sizes) - 0.6)
    ax.set_ylim(-0.7, 0.6)
    ax.set_title(
        f"edges: colour = weight (red +, blue −), thickness = |∂C/∂W|; units: activation "
        f"({explanation.loss_name} = {explanation.loss:.4g})"
    )
    return _finish(figure, path)
