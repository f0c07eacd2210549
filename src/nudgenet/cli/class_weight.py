"""``nudgenet train --class-weight``: ``balanced``, or a weight per class by name or number."""

from __future__ import annotations

import argparse
import math

from .common import UsageError

USAGE = "'balanced' or CLASS:WEIGHT pairs such as 0:1,1:5 (weights >= 0)"


def class_weight_option(text: str) -> str | dict[str, float]:
    """An argparse type: ``"balanced"``, or ``"0:1,1:5"`` / ``"cat:1,dog:5"`` as
    ``{class name: weight}``."""
    if text == "balanced":
        return text
    weights = {}
    for pair in text.split(","):
        name, colon, value = pair.rpartition(":")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not colon or not name.strip() or not (0 <= weight < math.inf):
            raise argparse.ArgumentTypeError(f"expected {USAGE}, got {text!r}")
        if name.strip() in weights:  # (the last one won, unsaid)
            raise argparse.ArgumentTypeError(f"expected each class once, got {text!r}, which "
                                             f"weighs {name.strip()!r} twice")  # fmt: skip
        weights[name.strip()] = weight
    return weights


def class_weight_for(option, data):
    """``fit``'s ``class_weight`` for the option (None: none) and a classification data set:
    ``"balanced"``, or ``{class index: weight}`` with each class named as the data names it."""
    if option is None:
        return None
    if data.task != "classification":
        raise UsageError(f"--class-weight weighs classes; {data.name} is a {data.task} task")
    if option == "balanced":
        return option
    names = list(data.class_names)
    unknown = [name for name in option if name not in names]
    if unknown:
        raise UsageError(
            f"--class-weight names no class {unknown[0]!r}; the classes are {', '.join(names)}"
        )
    return {names.index(name): weight for name, weight in option.items()}
