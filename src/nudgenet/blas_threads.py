"""One BLAS thread while a fit's matrix products are small, set by one fit at a time.

Waking and joining BLAS threads costs more than a small product (below :data:`SMALL_GEMM`
multiply-adds; docs/performance.md), so ``fit`` and the estimators' L-BFGS run such networks on
one BLAS thread.  threadpoolctl's limit is the process's, not a thread's (and for OpenBLAS's
own threads it takes a limit only from one Python thread at a time, ignoring the others'), so
fits running at once in several threads (a ``ThreadPoolExecutor``, joblib's threading backend)
must not each save and restore the pools: interleaved, a saved "1" restored last would leave
the process on one BLAS thread for good.  Here the limit is set by a fit that starts while no
other fit holds it, and restored by that same fit when it ends, in the thread that set it; a
fit that starts while another holds it runs under that limit until the holder ends, then on the
pools as they were (it sets and restores nothing itself).  So the process's pools always end
as they were found.
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
    """threadpoolctl's handle on the thread pools of the libraries loaded now (numpy's BLAS,
    which runs nudgenet's products, among them; one loaded later, such as scipy's own, is not
    limited), made once: finding them reads the process's memory map, milliseconds that a
    short fit would pay every time."""
    return ThreadpoolController()


class _OneThread:
    """The process's one-BLAS-thread limit (module doc): set by a holder that finds it unset,
    restored by that holder when it leaves; other holders meanwhile run under it."""

    def __init__(self) -> None:
        self._reset()
        # a child forked while a thread here held the lock would wait for it for ever
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._limiter = None  # threadpoolctl's, set by the holder that restores it

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            setter = self._limiter is None
            if setter:
                self._limiter = _thread_pools().limit(limits=1, user_api="blas")
        try:
            yield
        finally:
            if setter:
                with self._lock:
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
