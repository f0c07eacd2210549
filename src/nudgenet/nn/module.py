"""Module and Parameter: the PyTorch habits (``parameters()``, ``train()``, ``state_dict()``)."""

from __future__ import annotations

import inspect
import itertools
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from ..backend import as_float_dtype
from ..errors import ShapeError
from ..tensor import Tensor
from . import flat


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimiser updates (``requires_grad=True``)."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` unregisters the hook (a second call
    does nothing); used as a context manager, the hook is removed when the block ends."""

    _ids = itertools.count()

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _holds_modules(value) -> bool:
    """Whether ``value`` is a plain list, tuple or dict with a Module among its items."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(item, Module) for item in value)


class Module:
    """Base class of layers and models.  Assigning a Parameter or Module attribute registers it
    (a plain list, tuple or dict of Modules does not, and warns: hold them in a
    :class:`~nudgenet.nn.ModuleList` or :class:`~nudgenet.nn.ModuleDict`); subclasses implement
    ``forward``.  ``module(x)`` calls ``forward(x)``, then any forward hooks.

    A layer that model files can hold describes itself with :meth:`get_config` and is rebuilt by
    :meth:`from_config` (Keras's names); see :mod:`nudgenet.nn.config`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", {})  # handle id -> hook, in registration order

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning "
                f"attribute {name!r}"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif _holds_modules(value):
            warnings.warn(
                f"{type(self).__name__}.{name} is a {type(value).__name__} holding Modules: "
                "they are not registered (parameters(), state_dict(), to(), train(), the "
                "optimizer and ng.save miss them); use ng.ModuleList (ng.ModuleDict for a dict)",
                UserWarning,
                stacklevel=2,  # the assignment, in the caller's __init__
            )
        object.__setattr__(self, name, value)

    def forward(self, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *inputs, **kwargs):
        output = self.forward(*inputs, **kwargs)
        if self._forward_hooks:
            output = self._run_forward_hooks(inputs, output)
        return output

    # --- hooks --------------------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward of this module (PyTorch's
        contract: ``inputs`` is the tuple of positional arguments; a return value other than None
        replaces the output).  Hooks run in registration order; ``handle.remove()`` unregisters
        this one.  A model with forward hooks always runs through the engine (never compiled)."""
        if not callable(hook):
            raise TypeError(
                f"register_forward_hook: expected a callable hook(module, inputs, output), "
                f"got {type(hook).__name__}"
            )
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def _run_forward_hooks(self, inputs: tuple, output):
        for hook in list(self._forward_hooks.values()):  # a hook may remove itself
            result = hook(self, inputs, output)
            if result is not None:
                output = result
        return output

    # --- walking the tree ---------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for child in self._modules.values():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs in registration order, e.g. ``("0.weight", W)``.
        A parameter shared by several layers (tied weights) is listed once, under its first name."""
        seen: set[int] = set()
        for name, p in self._named_parameters_with_repeats(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_parameters_with_repeats(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, child in self._modules.items():
            yield from child._named_parameters_with_repeats(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # --- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and all below it."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout is the identity)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero: one fill when this module's parameters are
        exactly one optimiser's flat buffer, else each gradient on its own (:mod:`.flat`)."""
        flat.zero_grad(self.parameters())

    # --- dtype --------------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype | None:
        params = self.parameters()
        return params[0].dtype if params else None

    def to(self, dtype) -> Module:
        """Convert every parameter to ``dtype`` (float32 or float64), in place; returns self.
        Optimisers created before notice and re-pack their buffers at the next step."""
        dtype = as_float_dtype(dtype)
        for p in self.parameters():
            if p.dtype != dtype:
                p.data = p.data.astype(dtype)
                p.grad = None if p.grad is None else p.grad.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's values, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values into the existing parameters (views into flat buffers stay views)."""
        own = dict(self.named_parameters())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                )
        for name, value in state.items():
            if name not in own:
                continue
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != own[name].shape:
                raise ShapeError(
                    f"load_state_dict: {name!r} expected shape {own[name].shape}, got {value.shape}"
                )
            own[name].data[...] = value

    # --- configuration (Keras's get_config / from_config) ----------------------------------
    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer, as JSON-able values:
        ``type(layer).from_config(layer.get_config())`` is the same layer, weights aside (model
        files store those apart).  This default, ``{}``, serves only a class whose constructor
        takes no arguments; for any other it raises NotImplementedError, so a layer that does not
        describe its arguments is never saved and silently rebuilt with their defaults."""
        arguments = list(inspect.signature(type(self)).parameters)
        if arguments:
            raise NotImplementedError(
                f"{type(self).__name__} takes constructor arguments ({', '.join(arguments)}) "
                "but does not override get_config() to return them"
            )
        return {}

    @classmethod
    def from_config(cls, config: dict, *, dtype=None, initialise: bool = True) -> Module:
        """The layer :meth:`get_config` described: ``cls(**config)``, its parameters (if any)
        converted to ``dtype``.  ``initialise=False`` lets a layer skip drawing initial values
        (its weights are about to be loaded)."""
        layer = cls(**config)
        return layer if dtype is None else layer.to(dtype)

    @classmethod
    def parameter_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        """The parameters ``from_config(config)`` holds, dotted name -> shape.  This default
        builds the layer uninitialised; a layer whose parameters can be large reads the shapes
        from ``config`` instead, so that a model file can be checked before anything is
        allocated."""
        layer = cls.from_config(config, initialise=False)
        return {name: p.shape for name, p in layer.named_parameters()}

    # --- description --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside this module's parentheses in its repr."""
        return ""

    def __repr__(self) -> str:
        lines = [self._repr_tree(indent="")]
        total = self.num_parameters()
        if self._modules:
            lines.append(f"Total parameters: {total:,}")
        return "\n".join(lines)

    def _repr_tree(self, indent: str) -> str:
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not self._modules:
            count = self.num_parameters()
            return f"{head}  # {count:,} params" if count else head
        inner = indent + "  "
        rows = [
            f"{inner}({name}): {child._repr_tree(inner)}" for name, child in self._modules.items()
        ]
        return f"{type(self).__name__}(\n" + "\n".join(rows) + f"\n{indent})"
