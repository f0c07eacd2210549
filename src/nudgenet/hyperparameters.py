"""Checks of an optimiser's or a schedule's numbers: one-line errors naming the setting."""

from __future__ import annotations

import math
from numbers import Real


def number(name: str, value) -> float:
    """``value`` as a float: a TypeError in one line for what is no number (``"0.1"``, None,
    True), which ``float`` would read or refuse in its own words."""
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    """``value`` (a :func:`number`) as a finite float > 0 (>= 0 with ``allow_zero``): a rate,
    an epsilon, a decay."""
    value = number(name, value)
    if not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def below_one(owner: str, name: str, value: float) -> float:
    """``value`` as a float in [0, 1): a momentum or decay rate (1 or more would let the kept
    part of the past grow instead of fade, and training diverge)."""
    value = number(f"{owner}: {name}", value)
    if not 0 <= value < 1:
        raise ValueError(
            f"{owner}: {name} must be in [0, 1), got {value} (the share of the past kept at "
            "each step: 1 or more makes it grow instead of fade)"
        )
    return value
