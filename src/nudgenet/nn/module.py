"""Module and Parameter: the PyTorch habits (``parameters()``, ``train()``, ``state_dict()``,
``register_buffer``)."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from ..backend import as_float_dtype
from ..errors import ShapeError
from ..graph import changed
from ..tensor import Tensor
from . import flat
from .hooks import RemovableHandle

_DEVICES = ("cpu", "cuda", "mps", "xpu", "xla")  # PyTorch's device names, for to()
_TRANSPOSED = (
    " (transposed: nudgenet's Linear weight is (in, out), PyTorch's (out, in): load its .T)"
)


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimiser updates (``requires_grad=True``)."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


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

    State that is not trained (a batch norm's running statistics) lives in buffers
    (:meth:`register_buffer`, PyTorch's contract): plain arrays, never given a gradient nor
    listed by ``parameters()`` (so no optimiser updates them), but saved and loaded with the
    parameters by ``state_dict()`` and model files (unless registered ``persistent=False``) and
    converted by ``to()``.

    A layer that model files can hold describes itself with :meth:`get_config` and is rebuilt by
    :meth:`from_config` (Keras's names); see :mod:`nudgenet.nn.config`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})  # name -> ndarray or None
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", {})  # handle id -> hook, in registration order

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning "
                f"attribute {name!r}"
            )
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            value = self._buffers[name] = _buffer(type(self).__name__, name, value)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, (Parameter, Module)):
            self._buffers.pop(name, None)
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
        this one.  A model with forward hooks runs through the engine, which calls them (``fit``
switches to it when a hook is registered during training)."""
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

    # --- buffers ------------------------------------------------------------------------------
    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        """Register ``array`` as the buffer ``name``: state of the module that is not a
        parameter (no gradient, not in ``parameters()``), reachable as ``self.<name>``.
        Persistent buffers are in ``state_dict()`` and so in model files; ``to()`` converts
        floating ones.  ``None`` registers a buffer that is left out of both until an array is
        assigned to ``self.<name>`` (an assignment replaces the buffer's array)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"register_buffer({name!r}, ...)"
            )
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: expected a non-empty name without '.', got {name!r}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        self._buffers[name] = _buffer(type(self).__name__, name, array)
        object.__setattr__(self, name, self._buffers[name])
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """``(dotted name, array)`` for every buffer that holds an array, this module's first,
        then its children's (e.g. ``("1.running_mean", ...)``); an array shared by several
        modules is listed once, under its first name."""
        yield from self._named_arrays(prefix, parameters=False, persistent_only=False)

    def buffers(self) -> list[np.ndarray]:
        return [b for _, b in self.named_buffers()]

    def _named_arrays(
        self, prefix: str, parameters: bool, persistent_only: bool
    ) -> Iterator[tuple[str, np.ndarray]]:
        """``(dotted name, array)`` module by module, this one first: each module's parameters'
        values (when ``parameters``), then its buffers that hold arrays (the persistent ones
        only, when ``persistent_only``); an object reached twice is listed once, by its first
        name."""
        seen: set[int] = set()
        for path, module in _named_modules(self, prefix):
            members = list(module._parameters.items()) if parameters else []
            members += [
                (name, array)
                for name, array in module._buffers.items()
                if array is not None
                and not (persistent_only and name in module._non_persistent_buffers)
            ]
            for name, member in members:
                if id(member) not in seen:
                    seen.add(id(member))
                    yield path + name, member.data if isinstance(member, Tensor) else member

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

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter, as PyTorch's (``requires_grad_(False)``
        freezes the module; an optimiser built before follows at its next step); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Set every parameter's gradient to zero: one fill when this module's parameters are
        exactly one optimiser's flat buffer, else each gradient on its own; PyTorch's
        ``set_to_none=True`` zeroes too (:func:`.flat.zero_grad` says why)."""
        flat.zero_grad(self.parameters())

    # --- dtype --------------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype | None:
        """The first parameter's dtype; for a module without parameters, its first floating
        buffer's; else None."""
        params = self.parameters()
        if params:
            return params[0].dtype
        return next((b.dtype for b in self.buffers() if b.dtype.kind == "f"), None)

    def to(self, dtype) -> Module:
        """Convert every parameter and every floating buffer to ``dtype`` (float32 or float64),
        in place; returns self.  Optimisers created before notice and re-pack their flat buffers
        at the next step.  PyTorch's ``to("cpu")`` changes nothing (NumPy's arrays are on the
        CPU); another device is a ValueError."""
        device = dtype.partition(":")[0] if isinstance(dtype, str) else None  # ("cpu:0" too)
        if device in _DEVICES:
            if device != "cpu":
                raise ValueError(f"to: nudgenet runs on the CPU (NumPy), got device {dtype!r}")
            return self
        dtype = as_float_dtype(dtype)
        for p in self.parameters():
            if p.dtype != dtype:
                p.data = p.data.astype(dtype)
                p.grad = None if p.grad is None else p.grad.astype(dtype)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and array.dtype.kind == "f" and array.dtype != dtype:
                    setattr(module, name, array.astype(dtype))
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's values and every persistent buffer, keyed by dotted
        name."""
        return {name: array.copy() for name, array in self._named_state()}

    def _named_state(self) -> Iterator[tuple[str, np.ndarray]]:
        """What ``state_dict`` holds, not copied: module by module, the parameters' values and
        the persistent buffers (PyTorch's order)."""
        return self._named_arrays("", parameters=True, persistent_only=True)

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values into the existing parameters and persistent buffers (views into flat
        buffers stay views; each keeps its dtype): a graph recorded before then refuses a
        backward through them (:func:`~nudgenet.graph.changed`).  A value of the transposed
        shape is refused with a hint: PyTorch's Linear weight, (out, in), is the transpose of
        nudgenet's (a square one fits both layouts, so porting one takes ``.T`` by hand)."""
        own = dict(self._named_state())
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
                transposed = value.ndim == 2 and value.shape == own[name].shape[::-1]
                raise ShapeError(
                    f"load_state_dict: {name!r} expected shape {own[name].shape}, got {value.shape}"
                    + (_TRANSPOSED if transposed else "")
                )
            own[name][...] = value
            changed((own[name],))

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
        """The tensors a model file holds for ``from_config(config)``: its parameters and
        persistent buffers (``state_dict``'s names), dotted name -> shape.  This default builds
        the layer uninitialised; a layer whose tensors can be large reads the shapes from
        ``config`` instead, so that a model file can be checked before anything is
        allocated."""
        layer = cls.from_config(config, initialise=False)
        return {name: array.shape for name, array in layer._named_state()}

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
            count, buffers = self.num_parameters(), [n for n, _ in self.named_buffers()]
            notes = [f"{count:,} params"] if count else []
            notes += [f"buffers {', '.join(buffers)}"] if buffers else []
            return f"{head}  # {'; '.join(notes)}" if notes else head
        inner = indent + "  "
        rows = [
            f"{inner}({name}): {child._repr_tree(inner)}" for name, child in self._modules.items()
        ]
        return f"{type(self).__name__}(\n" + "\n".join(rows) + f"\n{indent})"


def _named_modules(module: Module, prefix: str) -> Iterator[tuple[str, Module]]:
    """``(dotted prefix of its names, module)`` for ``module`` and every module below it."""
    yield prefix, module
    for name, child in module._modules.items():
        yield from _named_modules(child, f"{prefix}{name}.")


def _buffer(owner: str, name: str, array) -> np.ndarray | None:
    """A buffer's value, or TypeError: buffers hold NumPy arrays (or None)."""
    if array is not None and not isinstance(array, np.ndarray):
        raise TypeError(
            f"{owner}: buffer {name!r} must be a NumPy array or None, got {type(array).__name__}"
        )
    return array
