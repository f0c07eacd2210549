"""Figures of a training run: the loss and metric curves, per-layer gradient norms, dead units."""

from __future__ import annotations

import numpy as np

from ..diagnostics import per_layer
from ._canvas import finish, new_figure

_METRICS = ("accuracy", "rmse", "mae", "mse")


def _series(history) -> dict[str, list[float]]:
    return dict(history.history if hasattr(history, "history") else history)


def _epoch_axis(ax) -> None:
    """Label the x axis "epoch", with ticks at whole epochs only (no 1.5)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_history(history, path=None, size: tuple[int, int] = (1000, 400)):
    """Training curves: loss, and accuracy (or rmse / mae / mse), for train and validation.

    ``history`` is :func:`~nudgenet.fit`'s History (or its ``history`` dict)."""
    series = _series(history)
    if "loss" not in series:
        raise ValueError(f"plot_history: no 'loss' in the history (it has {sorted(series)})")
    metric = next((m for m in _METRICS if m in series), None)
    figure = new_figure(size)
    axes = figure.subplots(1, 2 if metric else 1, squeeze=False)[0]
    for ax, name in zip(axes, ["loss", metric]):
        epochs = np.arange(1, len(series[name]) + 1)
        ax.plot(epochs, series[name], marker="o", ms=3, label=f"train {name}")
        if f"val_{name}" in series:
            ax.plot(epochs, series[f"val_{name}"], marker="o", ms=3, label=f"validation {name}")
        _epoch_axis(ax)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return finish(figure, path)


def plot_gradient_norms(history, path=None, size: tuple[int, int] = (1000, 400)):
    """Per-layer gradient norms over epochs (log scale) and, where recorded, the fraction of dead
    ReLU units: the ``grad_norm/<layer>`` and ``dead_units/<layer>`` series that
    ``fit(..., diagnostics=True)`` writes."""
    series = _series(history)
    norms, dead = per_layer(series, "grad_norm"), per_layer(series, "dead_units")
    if not norms:
        raise ValueError(
            "plot_gradient_norms: the history has no grad_norm/<layer> series; train with "
            "fit(..., diagnostics=True)"
        )
    figure = new_figure(size)
    axes = figure.subplots(1, 2 if dead else 1, squeeze=False)[0]
    for layer, values in norms.items():
        axes[0].semilogy(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=layer)
    axes[0].set_title("gradient norm per layer  ‖∂C/∂W, ∂C/∂b‖")
    if dead:
        for layer, values in dead.items():
            axes[1].plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=layer)
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_title("dead ReLU units (never fired in the epoch)")
    for ax in axes:
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(title="layer")
    return finish(figure, path)
