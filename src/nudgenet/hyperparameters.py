"""Checks of an optimiser's or a schedule's numbers: one-line errors naming the setting."""

from __future__ import annotations

import math


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``): a rate, an epsilon, a
    decay."""
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def below_one(owner: str, name: str, value: float) -> float:
    """``value`` as a float in [0, 1): a momentum or decay rate (1 or more would let the kept
    part of the past grow instead of fade, and training diverge)."""
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(
            f"{owner}: {name} must be in [0, 1), got {value} (the share of the past kept at "
            "each step: 1 or more makes it grow instead of fade)"
        )
    return value
