"""Which rows of a global batch each rank trains on.

A global batch of ``m`` rows (the same rows on every rank: all draw one permutation from the
shared seed) is cut into ``size`` contiguous shares as even as can be: rank ``r`` takes rows
``⌈m·r/size⌉`` to ``⌈m·(r+1)/size⌉``.  Shares differ by at most one row, the larger ones first; a
short last batch, or one with fewer rows than ranks, leaves the last ranks none (they still join
the step's reduction), never rank 0, whose diagnostics the History keeps.
"""

from __future__ import annotations

import numpy as np


def bounds(m: int, rank: int, size: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s share of ``m`` rows among ``size`` ranks."""
    return -(-m * rank // size), -(-m * (rank + 1) // size)


def share(rows: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous share of ``rows`` (a view)."""
    start, stop = bounds(len(rows), rank, size)
    return rows[start:stop]
