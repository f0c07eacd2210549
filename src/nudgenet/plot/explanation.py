"""Figures of what the first layer holds and what one example asks of it: first-layer weights as
images, and one example's input, output nudges and ∂C/∂W (images for image inputs, a table of
features by hidden units for table data)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._canvas import finish, first_linear, fitted, image_shape_of, new_figure

if TYPE_CHECKING:
    from ..explain import Explanation

MAX_NAMED_FEATURES = 30  # a table's rows named one by one up to this many, else every k-th
GRADIENT_LABEL = "∂C/∂W  (red: W should go down)"
MAX_ANNOTATED_ROWS = 16  # a table of ∂C/∂W of up to this many features shows each value


def _symmetric(values) -> dict:
    """imshow's arguments for values coloured red (+) and blue (−) around a white 0."""
    limit = max(float(np.abs(v).max()) for v in values) or 1.0
    return {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit, "interpolation": "nearest"}


def _image_grid(figure, images: list[np.ndarray], titles: list[str], styles: list[dict]) -> list:
    """The images in a near-square grid filling ``figure`` (a Figure or SubFigure), each drawn
    with its style (imshow's arguments); their axes."""
    columns = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / columns))
    grid = figure.add_gridspec(rows, columns, wspace=0.05, hspace=0.25)
    axes = []
    for k in range(rows * columns):
        ax = figure.add_subplot(grid[k // columns, k % columns])
        ax.set_axis_off()
        if k < len(images):
            ax.imshow(images[k], **styles[k])
            ax.set_title(titles[k], fontsize=8)
            axes.append(ax)
    return axes


def _tick_every(count: int) -> int:
    return max(1, math.ceil(count / MAX_NAMED_FEATURES))


def plot_weights(
    model,
    path=None,
    image_shape=None,
    units: int | None = 16,
    size: tuple[int, int] = (700, 700),
):
    """The first Linear layer's weights into each of its first ``units`` hidden units, one image
    per unit (column ``W[:, j]`` reshaped to ``image_shape``: 28×28 for MNIST, 8×8 for digits,
    inferred for square inputs of side >= 8), each on its own scale: red is positive, blue
    negative."""
    layer = first_linear(model)
    shape = image_shape_of(layer.in_features, image_shape)
    if shape is None:
        raise ValueError(
            f"plot_weights: expected image inputs, got {layer.in_features} input features that "
            "are not a square image of side >= 8 (or image_shape=False); pass "
            "image_shape=(height, width)"
        )
    count = layer.out_features if units is None else min(units, layer.out_features)
    weights = layer.weight.data.astype(np.float64)
    figure = new_figure(size)
    figure.suptitle(f"first-layer weights W[:, j] ({layer.in_features} → {layer.out_features})")
    images = [weights[:, j].reshape(shape) for j in range(count)]
    titles = [f"unit {j}" for j in range(count)]
    _image_grid(figure, images, titles, [_symmetric([image]) for image in images])
    return finish(figure, path)


def plot_explanation(
    explanation: Explanation,
    path=None,
    image_shape=None,
    units: int = 6,
    size: tuple[int, int] = (1100, 700),
    label: str | None = None,
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
):
    """One example seen by backprop: its input, the output nudges ``−∂C/∂a`` as bars (up green,
    down red), and ``∂C/∂W`` of the first layer for the ``units`` hidden units it affects most
    (largest ``‖∂C/∂W[:, j]‖``; units it leaves untouched, such as inactive ReLUs, are left out),
    on one colour scale with a colour bar.

    Image inputs (see the package doc) are drawn as images, ``∂C/∂W[:, j]`` as one image per
    unit.  A table's input is drawn as a bar per feature, of the value the first Linear layer
    sees (after the model's own preprocessing, such as Standardize), labelled with
    ``feature_names`` (default ``x0, x1, ...``) and the raw value; ``∂C/∂W`` as one table of
    features by hidden units.  ``class_names`` label the output units (where there is one per
    class) and the predicted class.  The title names the example (``label``, default "one
    example"), the predicted class and its probability for a classifier, and the loss to 3
    significant digits.

    ``explanation`` must be of one example (``explain(model, loss_fn, x[k], y[k])``): every panel
    then shows that example.  A batch's gradients are the mean over its rows, so they are not
    any one row's, and a batch raises ValueError."""
    if explanation.batch_size != 1:
        raise ValueError(
            f"plot_explanation draws one example: expected an explanation of 1 row, got "
            f"{explanation.batch_size} (whose gradients are their mean); explain one row, "
            "explain(model, loss_fn, x[k], y[k])"
        )
    x = explanation.x[0]
    shape = image_shape_of(x.size, image_shape)
    if feature_names is not None and len(feature_names) != x.size:
        raise ValueError(
            f"plot_explanation: expected {x.size} feature names, got {len(feature_names)}"
        )
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(x.size)]
    figure = new_figure(size)
    title = f"{label or 'one example'}: {explanation.summary(class_names)}"
    figure.suptitle(fitted(title, size[0]))
    outer = figure.add_gridspec(2, 2, height_ratios=[1, 1.3], width_ratios=[1, 2])
    ax = figure.add_subplot(outer[0, 0])
    if shape is not None:
        ax.imshow(x.reshape(shape), cmap="gray_r", interpolation="nearest")
        ax.set_axis_off()
        ax.set_title("input")
    else:
        _table_input(ax, explanation, names)
    _nudges(figure.add_subplot(outer[0, 1]), explanation.nudges[0], class_names)
    if explanation.layers:
        _first_layer_gradients(figure, outer[1, :], explanation, shape, names, units)
    return finish(figure, path)


def _table_input(ax, explanation: Explanation, names: list[str]) -> None:
    """A table row as horizontal bars, first feature on top: the values the first layer sees,
    labelled with each feature's name and raw value."""
    raw = explanation.x[0]
    seen = explanation.layers[0].inputs[0] if explanation.layers else raw
    rows = np.arange(raw.size)
    ax.barh(rows, seen, color=["tab:blue" if v >= 0 else "tab:orange" for v in seen])
    ax.axvline(0, color="black", lw=0.8)
    step = _tick_every(raw.size)
    ax.set_yticks(rows[::step], [f"{names[i]} = {raw[i]:.4g}" for i in rows[::step]], fontsize=8)
    ax.invert_yaxis()
    preprocessed = not np.array_equal(seen, raw)
    # two short lines: one long line, wider than this narrow panel, was cut at the figure's edge
    ax.set_xlabel("value seen by the first layer\n(after the model's preprocessing)"
                  if preprocessed else "value")  # fmt: skip
    ax.set_title("input features")


def _nudges(ax, nudges: np.ndarray, class_names: list[str] | None) -> None:
    units = np.arange(nudges.size)
    ax.bar(units, nudges, color=["tab:green" if v > 0 else "tab:red" for v in nudges])
    ax.axhline(0, color="black", lw=0.8)
    named = class_names is not None and len(class_names) == nudges.size
    ax.set_xticks(units, list(class_names) if named else [str(k) for k in units])
    ax.set_xlabel("class (output unit)" if named else "output unit")
    ax.set_ylabel("−∂C/∂a")
    ax.set_title("desired output nudges  −∂C/∂a  (green: up, red: down)")


def _first_layer_gradients(figure, spec, explanation: Explanation, shape, names, units) -> None:
    """∂C/∂W of the first layer for the most-affected hidden units, with a colour bar."""
    grad = explanation.layers[0].weight_grad.astype(np.float64)
    strength = np.linalg.norm(grad, axis=0)
    chosen = [j for j in np.argsort(-strength, kind="stable")[:units] if strength[j] > 0]
    untouched = int(np.count_nonzero(strength == 0))
    note = f"; {untouched} unit(s) with ∂C/∂W = 0 left out" if untouched else ""
    if not chosen:
        ax = figure.add_subplot(spec)
        ax.set_axis_off()
        ax.set_title(f"∂C/∂W of the first layer is 0 for this example{note}")
        return
    style = _symmetric([grad[:, chosen]])
    if shape is not None:
        panel = figure.add_subfigure(spec)
        panel.suptitle(f"∂C/∂W[:, j] of the first layer for the most-affected units j{note}",
                       fontsize=10)  # fmt: skip
        images = [grad[:, j].reshape(shape) for j in chosen]
        titles = [f"unit {j}: ‖∂C/∂W‖ {strength[j]:.2g}" for j in chosen]
        axes = _image_grid(panel, images, titles, [style] * len(images))
        panel.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label=GRADIENT_LABEL)
        return
    ax = figure.add_subplot(spec)
    image = ax.imshow(grad[:, chosen], aspect="auto", **style)
    ax.set_xticks(np.arange(len(chosen)), [f"unit {j}" for j in chosen])
    rows = np.arange(grad.shape[0])[:: _tick_every(grad.shape[0])]
    ax.set_yticks(rows, [names[i] for i in rows], fontsize=8)
    ax.set_xlabel("hidden unit of the first layer (the most affected first)")
    ax.set_title(f"∂C/∂Wᵢⱼ of the first layer: input feature i → hidden unit j{note}")
    if grad.shape[0] <= MAX_ANNOTATED_ROWS:
        limit = style["vmax"]
        for (i, k), value in np.ndenumerate(grad[:, chosen]):
            ax.annotate(f"{value:.2g}", (k, i), ha="center", va="center", fontsize=7,
                        color="white" if abs(value) > 0.6 * limit else "black")  # fmt: skip
    figure.colorbar(image, ax=ax, label=GRADIENT_LABEL)
