"""Figures of learning: training curves, first-layer weights, one example's nudges, gradient norms,
and a small network drawn with its weights and gradients.

matplotlib is an optional extra (``pip install nudgenet[plot]``), imported only when a figure is
drawn.  Figures are built on matplotlib's Agg canvas directly (no pyplot, no global backend
switch), have a fixed size in pixels (``size=(width, height)`` at 100 dpi, so a saved PNG is
exactly that size), and are returned; pass ``path`` to also write them (PNG, SVG, PDF: by suffix).

Inputs are drawn as images when ``image_shape=(height, width)`` says so, or, by default
(``image_shape=None``), when the feature count is a square of side 8 or more (8×8 digits, 28×28
MNIST); a table of 4 or 9 features is not a tiny image.  ``image_shape=False``: never an image.
A table's features are named by ``feature_names`` (a CSV file's header) where given.

The package: :mod:`._canvas` (the canvas, sizes, titles, image shapes), :mod:`.training`
(curves and gradient norms), :mod:`.explanation` (weights and one example),
:mod:`.network` (a small network as a graph), :mod:`.pricing` (a pricer's price and delta).
"""

from ._canvas import DPI, check_figure_path
from .explanation import plot_explanation, plot_weights
from .network import plot_network
from .pricing import plot_price_and_delta
from .training import plot_gradient_norms, plot_history

__all__ = [
    "DPI",
    "check_figure_path",
    "plot_explanation",
    "plot_gradient_norms",
    "plot_history",
    "plot_network",
    "plot_price_and_delta",
    "plot_weights",
]
