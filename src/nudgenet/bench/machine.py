"""The machine's ceilings, measured in the same run as the benchmark, and its BLAS."""

from __future__ import annotations

import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info


def gemm_ceiling(n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n×n×n matrix product with NumPy's BLAS (default threads), median."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(a, a, out=out)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """GB/s moved (read + write) by copying a ``mib``-MiB float32 array, median."""
    src = np.ones(mib * 2**18, dtype=np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - started)
    return 2 * src.nbytes / statistics.median(times) / 1e9


def blas_info() -> str:
    return ", ".join(
        f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )
