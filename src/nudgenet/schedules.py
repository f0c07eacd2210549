"""Learning-rate schedules (``ng.optim.StepLR``, ...): each a formula of the epoch.

Unlike PyTorch's, which multiply the optimiser's current rate by a factor each step (so they
chain), each schedule here computes the rate from ``base_lr`` (the optimiser's ``lr`` when the
schedule was built) and the epoch alone, as Keras's ``LearningRateSchedule`` does.  So a rate set
by hand (``optimizer.lr = ...``) is overridden at the next ``step()`` (set ``schedule.base_lr``
instead), and two schedules on one optimiser do not compound: the last one stepped sets the
rate.  Why: the rate is a function of two saved numbers, so ``load_state_dict`` and a resumed
checkpoint give it back exactly, whatever happened to ``optimizer.lr`` meanwhile, with no past
factors to replay.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .hyperparameters import positive

if TYPE_CHECKING:
    from .optim import Optimizer


class LRScheduler:
    """Sets ``optimizer.lr`` to ``lr_at(epoch)``, a formula of ``base_lr`` and the epoch count
    (not chained: :mod:`nudgenet.schedules` says why); call ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def lr_at(self, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch and return the new learning rate."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"type": type(self).__name__, "base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr, self.epoch = float(state["base_lr"]), int(state["epoch"])
        self.optimizer.lr = self.lr_at(self.epoch)


class StepLR(LRScheduler):
    """η_t = η₀ · γ^⌊t / step_size⌋"""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), positive("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """η_t = η₀ · γᵗ"""

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = positive("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """η_t = η_min + (η₀ − η_min)(1 + cos(π·min(t, T)/T)) / 2

    After ``T_max`` epochs the rate stays at ``eta_min``, Keras's ``CosineDecay`` rule;
    PyTorch's rises again toward η₀ over the next ``T_max`` epochs (a cosine of period
    2·``T_max``), a restart that a run longer than ``T_max`` rarely wants."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), positive("eta_min", eta_min, allow_zero=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        t = min(epoch, self.T_max)
        return (
            self.eta_min
            + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )


class InverseTimeLR(LRScheduler):
    """η_t = η₀ / (1 + decay·t)   (the classic 1/t schedule)"""

    def __init__(self, optimizer: Optimizer, decay: float = 1.0):
        self.decay = positive("decay", decay, allow_zero=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr / (1 + self.decay * epoch)
