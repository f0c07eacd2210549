"""The floors: only the matrix products of the benchmark's training steps, nothing else.

``gemm-numpy`` runs them through NumPy's BLAS on the threads ``fit`` uses, ``gemm-torch``
through PyTorch's: no implementation calling that BLAS can train faster.
"""

from __future__ import annotations

import time

import numpy as np


def gemm_plan(sizes, batch):
    """Per layer ``(a, W, z, δ, ∂W, δ below)`` shapes of one step at ``batch`` rows."""
    return [
        ((batch, a), (a, b), (batch, b), (batch, b), (a, b), (batch, a) if i else None)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]


def time_products(plan, new, matmul, transpose, steps, epochs, x):
    """Seconds per epoch of ``steps`` steps of z = a W (every layer), then, last layer first,
    ∂W = aᵀ δ and δ Wᵀ (not for the first layer); and a predictor running z = a W over every
    row of ``x`` (streamed from memory) in chunks of 1024 rows, as ``ng.predict`` does."""
    layers = [tuple(None if shape is None else new(shape) for shape in shapes) for shapes in plan]
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for _ in range(steps):
            for a, w, z, _, _, _ in layers:
                matmul(a, w, out=z)
            for a, w, _, d, grad_w, below in reversed(layers):
                matmul(transpose(a), d, out=grad_w)
                if below is not None:
                    matmul(d, transpose(w), out=below)
        times.append(time.perf_counter() - started)
    rows = min(1024, len(x))
    outs = [new((rows, shape[1][1])) for shape in plan]

    def predict():
        for start in range(0, len(x), rows):
            a = x[start : start + rows]
            for (_, w, *_), z in zip(layers, outs):
                a = matmul(a, w, out=z[: len(a)])

    return times, predict


def run_gemm_numpy(sizes, x, y, batch, epochs):
    """The floor through NumPy's BLAS, on the BLAS threads nudgenet's ``fit`` would use."""
    import nudgenet as ng
    from nudgenet.blas_threads import blas_threads_for

    model = ng.Sequential(*[ng.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    rng = np.random.default_rng(0)

    def new(shape):
        return rng.random(shape, dtype=np.float32)

    steps = -(-len(x) // batch)
    with blas_threads_for(model, batch):
        times, predict = time_products(
            gemm_plan(sizes, batch), new, np.matmul, np.transpose, steps, epochs, x
        )
    return times, predict


def run_gemm_torch(sizes, x, y, batch, epochs):
    """The floor through PyTorch's BLAS, on its default threads."""
    import torch

    def new(shape):
        return torch.rand(shape)

    steps = -(-len(x) // batch)
    xt = torch.from_numpy(x)
    return time_products(gemm_plan(sizes, batch), new, torch.mm, torch.t, steps, epochs, xt)
