"""Optimisers (and, from :mod:`nudgenet.schedules`, the learning-rate schedules).

Every optimiser packs its parameters into one flat buffer (:class:`~nudgenet.nn.FlatParameters`),
so ``zero_grad()`` is one fill and ``step()`` is a few vectorised in-place operations on the whole
model.  The usual loop::

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from .graph import changed
from .hyperparameters import below_one, positive
from .nn.flat import FlatParameters, flatten
from .nn.module import Module
from .schedules import (  # noqa: F401 (ng.optim.StepLR, ...: PyTorch's place for them)
    CosineAnnealingLR,
    ExponentialLR,
    InverseTimeLR,
    LRScheduler,
    StepLR,
)
from .tensor import Tensor

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
        self.lr = positive("lr", lr, allow_zero=True)  # PyTorch's: 0 (a schedule reaches it)
        self.step_count = 0
        self._flat = flatten(self.params)
        self.state = {name: np.zeros_like(self._flat.data) for name in self._state_names}

    def _buffer(self) -> FlatParameters:
        """The flat buffer, re-packed if a parameter was moved or converted since the last step
        (or the current buffer that re-packed them, such as a data-parallel run's; the state
        arrays follow its dtype); one frozen or unfrozen meanwhile stays where it is."""
        flat = self._flat
        if not flat.is_current() and not flat.follow_freezing():
            self._flat = flat = flatten(flat.params)
            self.state = {k: v.astype(flat.data.dtype, copy=False) for k, v in self.state.items()}
        return flat

    @property
    def flat_buffer(self) -> FlatParameters:
        """The :class:`~nudgenet.nn.FlatParameters` behind :attr:`flat_params` and
        :attr:`flat_grads` (its :attr:`~nudgenet.nn.FlatParameters.trained` stretches: what a
        step updates), re-packed first as they are."""
        return self._buffer()

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

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Set every parameter's gradient to zero (one fill of the flat gradient buffer);
        PyTorch's ``set_to_none=True`` zeroes too (:func:`~nudgenet.nn.flat.zero_grad` says
        why)."""
        self._buffer().zero_grad()

    def step(self, part: slice | None = None) -> None:
        """Apply one update to every parameter from its accumulated ``.grad``: ``_update`` on
        the whole buffer, or on pieces of ``_CHUNK`` elements when it is larger (the same
        arithmetic per element, without model-sized temporaries).  A frozen parameter
        (``requires_grad=False``) keeps its values and state, as PyTorch skips it.  ``part``:
        only this slice of the flat buffer (a data-parallel rank's share of a buffer its node
        shares, :mod:`nudgenet.distributed.node`); it still counts as one step.  A graph
        recorded before the step refuses a backward through the parameters it changed
        (PyTorch's version check)."""
        flat = self._buffer()
        self.step_count += 1
        changed((flat.data,))  # (every parameter's memory: views of it)
        for stretches in self._update_groups(flat):
            self._update_stretches(flat, stretches, part)

    def _update_groups(self, flat: FlatParameters) -> tuple:
        """The stretches of the buffer (:meth:`FlatParameters.stretches`; None: all of it) that
        ``step`` updates, one group per ``_update`` setting: the trained parameters, in one
        group here."""
        return (flat.trained,)

    def _update_stretches(self, flat: FlatParameters, stretches, part: slice | None) -> None:
        """``_update`` on ``stretches`` of the buffer (None: all of it) inside ``part``."""
        theta, grad, state = flat.data, flat.grad, list(self.state.values())  # _state_names order
        if part is not None:
            theta, grad, state = theta[part], grad[part], [s[part] for s in state]
        if stretches is not None:  # frozen parameters: their values and state stay
            pieces = flat.pieces(stretches, part, _CHUNK)
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
        """Restore what :meth:`state_dict` returned (same optimiser type and parameter sizes;
        checked before anything is restored)."""
        self._check_state(state)
        for name, value in state["state"].items():
            self.state[name][...] = value
        for name, value in state["hyperparameters"].items():
            setattr(self, name, value)
        self.step_count = int(state["step_count"])

    def _check_state(self, state: dict) -> None:
        """Raise unless ``state`` is this optimiser type's, with state arrays of its shapes."""
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
            if np.shape(value) != self.state[name].shape:
                raise ValueError(
                    f"load_state_dict: state {name!r} expected shape {self.state[name].shape}, "
                    f"got {np.shape(value)}"
                )

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
        self.momentum = below_one("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = positive("weight_decay", weight_decay, allow_zero=True)
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
        b1, b2 = (below_one(type(self).__name__, "betas", b) for b in betas)
        self.betas = (b1, b2)
        self.eps = positive("eps", eps)
        self.weight_decay = positive("weight_decay", weight_decay, allow_zero=True)
        super().__init__(params, lr)
        self._frozen_steps: dict[int, int] = {}  # parameter index -> the steps it sat out frozen
        self._t = 0  # the step count of the parameters ``_update`` is given

    def _update_groups(self, flat: FlatParameters):
        """Each parameter's bias correction counts its own steps, as PyTorch's
        ``state[p]["step"]``: the optimiser's steps less those it sat out frozen.  The trained
        parameters are updated in groups of equal count, ``_t`` set for each: one group, as
        the base class's, unless a parameter was frozen for a while and then trained again."""
        if flat.trained is not None:
            for i, p in enumerate(flat.params):
                if not p.requires_grad:
                    self._frozen_steps[i] = self._frozen_steps.get(i, 0) + 1
        if not self._frozen_steps:
            self._t = self.step_count
            yield flat.trained
            return
        own = [self.step_count - self._frozen_steps.get(i, 0) for i in range(len(flat.params))]
        trained = [p.requires_grad for p in flat.params]
        for t in sorted({t for t, take in zip(own, trained) if take}):
            self._t = t
            yield flat.stretches([take and t_i == t for t_i, take in zip(own, trained)])

    def state_dict(self) -> dict:
        """The base class's, and each parameter's steps sat out frozen (``"frozen_steps"``)."""
        state = super().state_dict()
        state["frozen_steps"] = [self._frozen_steps.get(i, 0) for i in range(len(self.params))]
        return state

    def load_state_dict(self, state: dict) -> None:
        """The base class's, and the steps sat out frozen (none in an older state)."""
        counts = state.get("frozen_steps", [0] * len(self.params))  # (older: none saved)
        self._check_state(state)
        if len(counts) != len(self.params):
            raise ValueError(
                f"load_state_dict: expected frozen_steps for {len(self.params)} parameters, "
                f"got {len(counts)}"
            )
        super().load_state_dict(state)
        self._frozen_steps = {i: int(n) for i, n in enumerate(counts) if n}

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
        t = self._t
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
        self.alpha = below_one("RMSprop", "alpha", alpha)
        self.eps = positive("eps", eps)
        self.momentum = below_one("RMSprop", "momentum", momentum)
        self.weight_decay = positive("weight_decay", weight_decay, allow_zero=True)
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
