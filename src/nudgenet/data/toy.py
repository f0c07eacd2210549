"""Small synthetic classification problems: XOR and interleaved spirals."""

from __future__ import annotations

import numpy as np

from ..backend import SeedLike, generator


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: ``y = x1 XOR x2``, the classic problem a single layer cannot solve.

    Returns:
        ``x``: float32 ``(4, 2)``; ``y``: int64 ``(4,)``.

    >>> x, y = xor()
    >>> x.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def spirals(
    n: int = 300, classes: int = 3, noise: float = 0.2, seed: SeedLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (the CS231n toy problem).

    Class ``k`` has points at radius ``r`` evenly spaced in [0, 1] and angle
    ``4 (k + r) + noise · ε`` radians with ε ~ N(0, 1), at ``(r sin θ, r cos θ)``. The ``n``
    points are split evenly across classes (the first ``n % classes`` classes get one more) and
    come grouped by class: shuffle or split them before training.

    Returns:
        ``x``: float32 ``(n, 2)`` in [-1, 1]²; ``y``: int64 ``(n,)`` in ``0..classes-1``.

    Raises:
        ValueError: ``classes < 1``, ``n < classes`` or ``noise < 0``.

    >>> x, y = spirals(7, classes=2, seed=0)
    >>> x.shape, y.tolist()
    ((7, 2), [0, 0, 0, 0, 1, 1, 1])
    """
    if classes < 1:
        raise ValueError(f"classes must be at least 1, got {classes}")
    if n < classes:
        raise ValueError(f"n={n} is fewer than classes={classes}: each class needs a point")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = generator(seed)
    counts = [n // classes + (k < n % classes) for k in range(classes)]
    y = np.repeat(np.arange(classes, dtype=np.int64), counts)
    radius = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
    angle = 4.0 * (y + radius) + noise * rng.standard_normal(n)
    x = radius[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    return x.astype(np.float32), y
