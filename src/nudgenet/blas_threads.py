"""One BLAS thread while a fit's matrix products are small, shared by the threads fitting at once.

Waking and joining BLAS threads costs more than a small product (below :data:`SMALL_GEMM`
multiply-adds; docs/performance.md), so ``fit`` and the estimators' L-BFGS run such networks on
one BLAS thread.  threadpoolctl's limit is the process's, not a thread's: while any thread
holds it, every thread's BLAS runs on one thread.  So concurrent holders (fits in a
``ThreadPoolExecutor``, joblib's threading backend) share one limit: the first to enter sets it,
the last to leave restores the pools as the first found them.  (Each saving and restoring its
own, interleaved, would leave the process on one thread for good: a saved "1" restored last.)
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from functools import cache

from threadpoolctl import ThreadpoolController

from .nn.layers import Linear
from .nn.module import Module

# Below this many multiply-adds per matrix product one BLAS thread is faster than several:
# waking and joining threads costs more than the product (docs/performance.md).
SMALL_GEMM = 1 << 24


@cache
def _thread_pools() -> ThreadpoolController:
    """threadpoolctl's handle on the thread pools of the libraries loaded now (numpy's BLAS
    among them), made once: finding them reads the process's memory map, milliseconds that a
    short fit would pay every time."""
    return ThreadpoolController()


class _OneThread:
    """The process's one-BLAS-thread limit, held by any number of threads at once (module
    doc): set by the first holder, restored by the last."""

    def __init__(self) -> None:
        self._reset()
        # a child forked while a thread here held the lock would wait for it for ever
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._limiter = None  # threadpoolctl's, which restores what the first holder found

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._limiter = _thread_pools().limit(limits=1, user_api="blas")
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    limiter, self._limiter = self._limiter, None
                    limiter.restore_original_limits()


_ONE_THREAD = _OneThread()


@contextlib.contextmanager
def blas_threads_for(model: Module, batch_size: int) -> Iterator[None]:
    """Run the block on one BLAS thread when every ``Linear`` product of a batch is small."""
    sizes = [m.in_features * m.out_features for m in model.modules() if isinstance(m, Linear)]
    if not sizes or batch_size * max(sizes) >= SMALL_GEMM:
        yield
        return
    with _ONE_THREAD.held():
        yield
