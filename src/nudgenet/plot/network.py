"""A small network drawn as a graph: its weights, and the gradients one explanation found."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..nn.layers import Dropout, Identity, Linear, leaf_layers
from ..nn.module import Module
from ._canvas import finish, fitted, new_figure

if TYPE_CHECKING:
    from ..explain import Explanation


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


def plot_network(
    model: Module,
    explanation: Explanation,
    path=None,
    max_units: int = 10,
    size: tuple[int, int] = (1000, 650),
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    label: str | None = None,
):
    """A small network drawn as a graph: an edge per weight, coloured by its value (red positive,
    blue negative, with a colour bar) and as thick as its ``|∂C/∂W|`` for the explained
    example(s); units are shaded by their activation.  Every layer must have at most
    ``max_units`` units.  ``feature_names`` label the input nodes; ``class_names`` the output
    nodes (where there is one per class) and the predicted class in the title, which names the
    example (``label``) as :func:`plot_explanation` does.

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
    if feature_names is not None and len(feature_names) != sizes[0]:
        raise ValueError(
            f"plot_network: expected {sizes[0]} feature names, got {len(feature_names)}"
        )
    from matplotlib import colormaps, colors
    from matplotlib.cm import ScalarMappable

    figure = new_figure(size)
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
    outputs = class_names if class_names is not None and len(class_names) == sizes[-1] else []
    for layer, side, names in ((0, -1, feature_names or []), (len(sizes) - 1, 1, outputs)):
        for unit, name in enumerate(names):
            ax.annotate(name, position(layer, unit), xytext=(14 * side, 0),
                        textcoords="offset points", ha="right" if side < 0 else "left",
                        va="center", fontsize=8)  # fmt: skip
    names = [input_name] + [f"{t.name} ({t.activation})" for t in layers]
    for k, name in enumerate(names):
        ax.annotate(name, (k, -0.62), ha="center", fontsize=9)
    ax.set_xlim(-0.8 if feature_names else -0.4, len(sizes) - (0.2 if outputs else 0.6))
    ax.set_ylim(-0.7, 0.6)
    figure.colorbar(
        ScalarMappable(weight_colour, cmap),
        ax=ax,
        shrink=0.6,
        label="weight W (edge colour; red +, blue −)",
    )
    title = (
        f"{label or 'the explained example'}: {explanation.summary(class_names)}\n"
        "edges: colour = weight, thickness = |∂C/∂W|; units: shade and value = activation"
    )
    figure.suptitle(fitted(title, size[0]))
    return finish(figure, path)
