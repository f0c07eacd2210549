"""Containers that register the modules they hold: :class:`ModuleList` and :class:`ModuleDict`
(PyTorch's API).

A plain list or dict of layers assigned to a Module attribute registers nothing (``Module``
warns when that happens): ``parameters()``, ``state_dict()``, ``to()``, ``train()``/``eval()``,
``zero_grad()``, the optimiser, the repr and :func:`nudgenet.save` would all miss its layers.
These containers hold them as the container's children, named ``"0"``, ``"1"``, ... (ModuleList)
or by their keys (ModuleDict), so all of those see them: ``self.blocks = ModuleList(...)`` gives
parameters named ``blocks.0.weight``.

Neither has a ``forward``: the module holding one decides how its layers are applied.  So they
are not layers of the model-file registry (:data:`nudgenet.nn.config.LAYERS`): a description of
one would say nothing about the computation, which lives in the custom module's ``forward``.
Such a model's weights are saved by :func:`nudgenet.save` and loaded into a freshly built
instance with ``nudgenet.load(path, model=MyNet())``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping

from .module import Module


def _module(owner: str, what: str, value) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{owner}: {what} must be a Module, got {type(value).__name__}")
    return value


class _Container(Module):
    """What both containers share: no forward, children only through their own methods."""

    def forward(self, *inputs):
        raise NotImplementedError(
            f"{type(self).__name__} has no forward; apply its modules in your module's forward"
        )


class ModuleList(_Container):
    """Modules in a list, registered as children ``"0"``, ``"1"``, ...: indexing (an int, or a
    slice giving a ModuleList of the same modules), ``len``, iteration, ``append``, ``extend``,
    ``insert``, ``pop``, ``del`` and ``+=``, as PyTorch's.  Removing or inserting renumbers the
    modules after that place (and so their parameters' names)."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _list(self) -> list[Module]:
        return list(self._modules.values())

    def _store(self, modules: list[Module]) -> None:
        self._modules.clear()
        self._modules.update((str(i), module) for i, module in enumerate(modules))

    def _index(self, index: int) -> int:
        """``index`` as a place in ``range(len(self))`` (negative counts from the end)."""
        try:
            index = operator.index(index)
        except TypeError:
            kind = type(index).__name__
            raise TypeError(f"ModuleList: indices must be ints or slices, got {kind}") from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"ModuleList: index {index} is out of range for {len(self)} modules")
        return index % len(self)

    def __getitem__(self, index: int | slice):
        if isinstance(index, slice):
            return ModuleList(self._list()[index])
        return self._list()[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self._modules[str(self._index(index))] = _module("ModuleList", "an item", module)

    def __delitem__(self, index: int | slice) -> None:
        modules = self._list()
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._store(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._list())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns the list."""
        self._modules[str(len(self))] = _module("ModuleList", "an appended item", module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add each of ``modules`` at the end; returns the list."""
        if not isinstance(modules, Iterable) or isinstance(modules, Module):
            raise TypeError(
                f"ModuleList: expected an iterable of Modules, got {type(modules).__name__}"
            )
        for i, module in enumerate(list(modules)):
            _module("ModuleList", f"item {i}", module)
            self._modules[str(len(self))] = module
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before place ``index`` (as ``list.insert``)."""
        modules = self._list()
        modules.insert(index, _module("ModuleList", "an inserted item", module))
        self._store(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index`` (the last by default)."""
        module = self[index]
        del self[index]
        return module


class ModuleDict(_Container):
    """Modules by name, registered as children under their keys (strings without ``"."``, as a
    parameter's dotted name needs): ``d[key]``, ``d[key] = module``, ``del d[key]``, ``in``,
    ``len``, iteration over the keys, ``keys()``, ``values()``, ``items()``, ``update()``,
    ``pop()`` and ``clear()``, as PyTorch's; insertion order is kept."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r}; it has {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without '.', got {key!r}")
        self._modules[key] = _module("ModuleDict", f"the value of {key!r}", module)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"ModuleDict.update: expected (key, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove and return the module named ``key``."""
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()
