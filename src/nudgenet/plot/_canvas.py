"""What every figure shares: matplotlib's Agg canvas (imported only when drawing), a figure of a
size in pixels, writing it, titles that fit, and when a row of inputs is drawn as an image."""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path

from ..extras import require
from ..files import write_atomic
from ..nn.layers import Linear, leaf_layers
from ..nn.module import Module

DPI = 100
MIN_IMAGE_SIDE = 8  # the smallest square inferred to be an image: the 8×8 digits
TITLE_CHARACTER_PX = 10  # a title's characters are at most this wide, on average (12 pt)


def matplotlib_canvas():
    """matplotlib's Agg canvas class, or an ImportError naming the extra to install."""
    return require("matplotlib.backends.backend_agg", "plot", "Drawing figures").FigureCanvasAgg


def check_figure_path(path) -> Path:
    """``path`` as a Path, once matplotlib is known to be installed and to write its suffix.

    Call it before long work whose result is a figure, so a missing extra or a ``.jpeg`` typo
    fails at once.  No suffix means PNG.  Raises ImportError or ValueError.
    """
    path = Path(path)
    formats = matplotlib_canvas().get_supported_filetypes()
    if path.suffix and path.suffix[1:].lower() not in formats:
        raise ValueError(
            f"cannot write a figure to {path}: expected one of the suffixes "
            f"{', '.join('.' + name for name in sorted(formats))}, got {path.suffix!r}"
        )
    return path


def new_figure(size: tuple[int, int]):
    """A matplotlib Figure of ``size`` pixels on an Agg canvas."""
    canvas = matplotlib_canvas()
    from matplotlib.figure import Figure

    width, height = size
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    canvas(figure)
    return figure


def finish(figure, path):
    """Write ``figure`` to ``path`` (when given; without a suffix, to ``path.png``, as matplotlib
    names it) atomically, as the model files (:func:`nudgenet.files.write_atomic`: a kill while
    saving leaves the old file or none, never a truncated image), and return it."""
    if path is not None:
        path = Path(path)
        kind = path.suffix[1:].lower() or "png"
        image = io.BytesIO()
        figure.savefig(image, format=kind, dpi=DPI)
        write_atomic(path if path.suffix else Path(f"{str(path).rstrip('.')}.{kind}"),
                     image.getvalue())  # fmt: skip
    return figure


def fitted(text: str, width_px: int) -> str:
    """``text`` broken into lines that fit ``width_px`` pixels of a title (its own line breaks
    kept)."""
    width = max(20, width_px // TITLE_CHARACTER_PX)
    return "\n".join(textwrap.fill(line, width=width) for line in text.splitlines())


def image_shape_of(features: int, shape) -> tuple[int, int] | None:
    """The (height, width) to draw ``features`` inputs as, or None for not an image (see the
    package doc: a given shape, False, or None to infer squares of side >= 8)."""
    if shape is False:
        return None
    if shape is not None:
        shape = tuple(int(n) for n in shape)
        if math.prod(shape) != features:
            raise ValueError(f"image_shape {shape} does not hold {features} input features")
        return shape
    side = math.isqrt(features)
    return (side, side) if side * side == features and side >= MIN_IMAGE_SIDE else None


def first_linear(model: Module) -> Linear:
    for _, layer in leaf_layers(model):
        if isinstance(layer, Linear):
            return layer
    raise ValueError("the model has no Linear layer to draw")
