"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``is_grad_enabled``.

The mode belongs to each thread, as PyTorch's does: one thread's ``no_grad`` (a ``predict``,
say) leaves the other threads recording.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading


class _GradMode(threading.local):
    """Whether operations record the graph, per thread (as PyTorch's grad mode): one thread's
    ``no_grad`` (a ``predict``, say) leaves the others recording.  ``saved``: the modes that
    the blocks still open replaced, innermost last, so one ``no_grad`` instance (a decorator)
    may be entered again before it exits."""

    def __init__(self) -> None:
        self.enabled = True
        self.saved: list[bool] = []


MODE = _GradMode()  # this thread's mode: read by every recorded operation


def is_grad_enabled() -> bool:
    """Whether operations record the graph now, in this thread."""
    return MODE.enabled


class _ModeBlock(contextlib.ContextDecorator):
    """Inside the block (or the decorated function) this thread records the graph or not, as
    the subclass's ``enabled`` says; it also decorates a function bare, as PyTorch 2's:
    ``@ng.no_grad`` is ``@ng.no_grad()``."""

    enabled: bool

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        if not callable(func):
            raise TypeError(
                f"{cls.__name__} takes no arguments (`with ng.{cls.__name__}():`, "
                f"`@ng.{cls.__name__}()` or `@ng.{cls.__name__}`), got {func!r}"
            )
        return cls()(func)

    def __enter__(self) -> None:
        MODE.saved.append(MODE.enabled)
        MODE.enabled = self.enabled

    def __exit__(self, *exc) -> None:
        MODE.enabled = MODE.saved.pop()

    def __call__(self, func):
        """``func`` run in this mode; a generator function's body in it at each resumption
        (not only while the generator is made, as a plain decorator would: PyTorch's rule),
        the caller's mode between them."""
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        def generator(*args, **kwargs):
            inner, value, error = func(*args, **kwargs), None, None
            while True:
                with self._recreate_cm():
                    try:
                        item = inner.send(value) if error is None else inner.throw(error)
                    except StopIteration as stop:
                        return stop.value
                try:
                    value, error = (yield item), None
                except GeneratorExit:
                    with self._recreate_cm():
                        inner.close()
                    raise
                except BaseException as thrown:  # thrown in: on to the body, in its mode
                    value, error = None, thrown

        return generator


class no_grad(_ModeBlock):
    """Context manager (or decorator) inside which no graph is recorded: inference, updates."""

    enabled = False


class enable_grad(_ModeBlock):
    """Context manager (or decorator) that turns graph recording back on inside a ``no_grad``
    block."""

    enabled = True
