"""A pricer's figure: learned prices and deltas against spot, beside the closed form and the
noisy Monte-Carlo labels they were learnt from."""

from __future__ import annotations

import numpy as np

from ._canvas import finish, new_figure


def plot_price_and_delta(
    spot, closed_form: tuple, learned: dict, samples: tuple | None = None, path=None,
    size: tuple[int, int] = (1100, 450),
):  # fmt: skip
    """Two panels against ``spot`` (a grid): the price and its delta.  ``closed_form`` is
    ``(price, delta)`` on the grid; ``learned`` maps each training's name to its
    ``(price, delta)`` on the grid; ``samples`` (optional) is ``(spots, payoffs, pathwise
    deltas)`` of the training rows, drawn as faint dots."""
    figure = new_figure(size)
    axes = figure.subplots(1, 2)
    for k, (ax, title) in enumerate(zip(axes, ("price", "delta  ∂price/∂spot"))):
        if samples is not None:
            ax.scatter(samples[0], samples[k + 1], s=4, alpha=0.15, color="grey",
                       label="Monte-Carlo labels")  # fmt: skip
        ax.plot(spot, np.ravel(closed_form[k]), color="black", lw=2, label="closed form")
        for name, curves in learned.items():
            ax.plot(spot, np.ravel(curves[k]), lw=1.5, label=name)
        ax.set_xlabel("spot")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    lows = [np.min(closed_form[k]) for k in range(2)]
    highs = [np.max(closed_form[k]) for k in range(2)]
    for ax, low, high in zip(axes, lows, highs):  # the labels' spread would hide the curves
        margin = 0.15 * (high - low)
        ax.set_ylim(low - margin, high + margin)
    return finish(figure, path)
