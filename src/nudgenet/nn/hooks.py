"""The handle of a registered forward hook (:meth:`nudgenet.nn.Module.register_forward_hook`),
PyTorch's ``RemovableHandle``."""

from __future__ import annotations


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` unregisters the hook (a second call
    does nothing); used as a context manager, the hook is removed when the block ends."""

    registered = 0  # hooks registered so far on any module (fit's compiled step watches it)

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        RemovableHandle.registered += 1
        self.id = RemovableHandle.registered

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
