"""Optimisers and learning-rate schedules.

Every optimiser packs its parameters into one flat buffer (:class:`~nudgenet.nn.FlatParameters`),
so ``zero_grad()`` is one fill and ``step()`` is a few vectorised in-place operations on the whole
model.  The usual loop::

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np

from .nn.flat import FlatParameters, flatten
from .nn.module import Module
from .tensor import Tensor


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def _below_one(owner: str, name: str, value: float) -> float:
    """``value`` as a float in [0, 1): a momentum or decay rate (1 or more would let the kept
    part of the past grow instead of fade, and training diverge)."""
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(
            f"{owner}: {name} must be in [0, 1), got {value} (the share of the past kept at "
            "each step: 1 or more makes it grow instead of fade)"
        )
    return value


_CHUNK = 1 << 15  # elements per piece of an update: the piece and its temporaries stay in cache


@functools.lru_cache(maxsize=64)
def _chunks(size: int) -> tuple[slice, ...]:
    """Slices covering ``range(size)`` in pieces of ``_CHUNK``; the same arithmetic per element
    as one whole-buffer operation, without streaming model-sized temporaries through memory.
    Cached: a training run asks for the same size at every step."""
    return tuple(slice(start, start + _CHUNK) for start in range(0, size, _CHUNK))


class Optimizer:
    """Base class: holds the parameters' flat buffer, the learning rate ``lr``, a step counter and
    per-parameter state (flat arrays the size of the buffer, named by ``_state_names``).
    Subclasses implement ``_update(theta, grad, *state)``: the update of one piece of the
    buffer, element by element, so ``step()`` can run it on cache-sized pieces."""

    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor] | Module, lr: float):
        if isinstance(params, Module):
            params = params.parameters()
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or p.dtype.kind != "f":
                got = f"dtype {p.dtype}" if isinstance(p, Tensor) else type(p).__name__
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} must be a floating tensor, got {got}"
                )
        self.lr = _positive("lr", lr)
        self.step_count = 0
        self._flat = flatten(self.params)
        self.state = {name: np.zeros_like(self._flat.data) for name in self._state_names}

    def _buffer(self) -> FlatParameters:
        """The flat buffer, re-packed if a parameter was moved or converted since the last step
        (or the current buffer that re-packed them, such as a data-parallel run's; the state
        arrays follow its dtype)."""
        flat = self._flat
        if not flat.is_current():
            self._flat = flat = flatten(flat.params)
            self.state = {k: v.astype(flat.data.dtype, copy=False) for k, v in self.state.items()}
        return flat

    @property
    def flat_params(self) -> np.ndarray:
        """Every parameter's values in one contiguous 1-D array, in ``self.params`` order: each
        parameter's ``.data`` is a view into it, so writing here writes the parameters.
        Re-packed first if a parameter was moved, converted or rebound since the last step
        (then it is a new array: read the property again rather than keeping the array)."""
        return self._buffer().data

    @property
    def flat_grads(self) -> np.ndarray:
        """Every parameter's gradient in one contiguous 1-D array, laid out as
        :attr:`flat_params`: each ``.grad`` is a view into it, so ``backward()`` accumulates
        here and ``step()`` reads it (re-packed first, as :attr:`flat_params`)."""
        return self._buffer().grad

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (one fill of the flat gradient buffer)."""
        self._buffer().zero_grad()

    def step(self, part: slice | None = None) -> None:
        """Apply one update to every parameter from its accumulated ``.grad``: ``_update`` on
        the whole buffer, or on pieces of ``_CHUNK`` elements when it is larger (the same
        arithmetic per element, without model-sized temporaries).  A frozen parameter
        (``requires_grad=False``) keeps its values and state, as PyTorch skips it (but Adam's
        bias correction counts the optimiser's steps, not each parameter's).  ``part``: only this
        slice of the flat buffer (a data-parallel rank's share of a buffer its node shares,
        :mod:`nudgenet.distributed.node`); it still counts as one step."""
        flat = self._buffer()
        self.step_count += 1
        theta, grad, state = flat.data, flat.grad, list(self.state.values())  # _state_names order
        if part is not None:
            theta, grad, state = theta[part], grad[part], [s[part] for s in state]
        if flat.trained is not None:  # frozen parameters: their values and state stay
            pieces = flat.trained_pieces(part, _CHUNK)
        elif theta.size <= _CHUNK:  # one piece: no slicing
            self._update(theta, grad, *state)
            return
        else:
            pieces = _chunks(theta.size)
        for piece in pieces:
            self._update(theta[piece], grad[piece], *[s[piece] for s in state])

    def _update(self, theta: np.ndarray, grad: np.ndarray, *state: np.ndarray) -> None:
        raise NotImplementedError  # pragma: no cover

    def hyperparameters(self) -> dict:
        """The settings that define this optimiser, ``lr`` included."""
        return {"lr": self.lr}

    def state_dict(self) -> dict:
        """Hyperparameters, step count and copies of the state arrays."""
        return {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "step_count": self.step_count,
            "state": {k: v.copy() for k, v in self.state.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (same optimiser type and parameter sizes)."""
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"load_state_dict: expected state of a {type(self).__name__}, "
                f"got {state.get('type')!r}"
            )
        arrays = state["state"]
        if set(arrays) != set(self.state):
            raise KeyError(
                f"load_state_dict: expected state arrays {sorted(self.state)}, got {sorted(arrays)}"
            )
        for name, value in arrays.items():
            value = np.asarray(value)
            if value.shape != self.state[name].shape:
                raise ValueError(
                    f"load_state_dict: state {name!r} expected shape {self.state[name].shape}, "
                    f"got {value.shape}"
                )
            self.state[name][...] = value
        for name, value in state["hyperparameters"].items():
            setattr(self, name, value)
        self.step_count = int(state["step_count"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay:

    g ← ∇θ + λθ;   v ← μv + g;   θ ← θ − η·(g + μv if nesterov else v)   (v = g when μ = 0)
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        self.momentum = _below_one("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = _positive("weight_decay", weight_decay, allow_zero=True)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self._state_names = ("velocity",) if self.momentum else ()
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def _update(self, theta, grad, v=None):
        g = grad + self.weight_decay * theta if self.weight_decay else grad
        if not self.momentum:
            theta -= self.lr * g
            return
        v *= self.momentum
        v += g
        theta -= self.lr * (g + self.momentum * v if self.nesterov else v)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` adds λθ to the gradient:

    m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    """

    _state_names = ("m", "v")
    _decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        b1, b2 = (_below_one(type(self).__name__, "betas", b) for b in betas)
        self.betas = (b1, b2)
        self.eps = _positive("eps", eps)
        self.weight_decay = _positive("weight_decay", weight_decay, allow_zero=True)
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {
            "lr": self.lr,
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _update(self, theta, grad, m, v):
        b1, b2 = self.betas
        if self.weight_decay and self._decoupled:
            theta *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            grad = grad + self.weight_decay * theta
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        t = self.step_count
        m_hat_scale = self.lr / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta -= m_hat_scale * m / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): θ ← θ(1 − ηλ) before the
    Adam step, instead of adding λθ to the gradient."""

    _decoupled = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop:  s ← αs + (1−α)g²;  u = g/(√s + ε);  with momentum b ← μb + u, θ ← θ − ηb,
    else θ ← θ − ηu.  ``weight_decay`` adds λθ to g."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        self.alpha = _below_one("RMSprop", "alpha", alpha)
        self.eps = _positive("eps", eps)
        self.momentum = _below_one("RMSprop", "momentum", momentum)
        self.weight_decay = _positive("weight_decay", weight_decay, allow_zero=True)
        self._state_names = ("square_avg", "momentum_buffer") if self.momentum else ("square_avg",)
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
        }

    def _update(self, theta, grad, s, b=None):
        if self.weight_decay:
            grad = grad + self.weight_decay * theta
        s *= self.alpha
        s += (1 - self.alpha) * (grad * grad)
        u = grad / (np.sqrt(s) + self.eps)
        if b is not None:
            b *= self.momentum
            b += u
            u = b
        theta -= self.lr * u


# --- learning-rate schedules -----------------------------------------------------------------


class LRScheduler:
    """Sets ``optimizer.lr`` from the epoch count; call ``step()`` once per epoch."""

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
        self.step_size, self.gamma = int(step_size), _positive("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """η_t = η₀ · γᵗ"""

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """η_t = η_min + (η₀ − η_min)(1 + cos(π·min(t, T)/T)) / 2"""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), _positive("eta_min", eta_min, allow_zero=True)
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
        self.decay = _positive("decay", decay, allow_zero=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr / (1 + self.decay * epoch)
