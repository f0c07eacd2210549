"""The machine's ceilings, measured in the same run as the benchmark, and its BLAS."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
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


def cross_core_write(kib: int = 512, repeats: int = 60) -> dict | None:
    """How far apart two of this process's CPUs are, as cache coherence sees them: the µs to
    overwrite ``kib`` KiB that a process on the other CPU has just read (``shared_us``: each
    line's copy there must be invalidated first), against overwriting it again when only this
    process holds it (``own_us``), medians of ``repeats``; None with fewer than two CPUs.

    On a virtual machine the hypervisor may move the two virtual CPUs between host cores that
    share a cache and cores that do not, which multiplies ``shared_us`` several times over
    (docs/performance.md): data-parallel ranks, and a BLAS's own threads, pay it at every step.
    Reading what the other CPU wrote costs the same either way, so a read cannot tell."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None
    mine = np.ones(kib * 256, dtype=np.float32)
    with tempfile.NamedTemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as f:
        f.truncate(mine.nbytes)
        shared = np.memmap(f.name, dtype=np.float32, mode="r+", shape=mine.shape)
        reader = subprocess.Popen(
            [sys.executable, "-c", _READER, f.name, str(mine.size), str(cpus[1])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpus[0]})
        try:
            shared_us, own_us = [], []
            for _ in range(repeats):
                reader.stdin.write(b"r")
                reader.stdin.flush()
                if reader.stdout.read(1) != b"d":
                    raise RuntimeError("cross_core_write: the reading process ended")
                shared_us.append(_copy_seconds(shared, mine))
                own_us.append(_copy_seconds(shared, mine))
        finally:
            os.sched_setaffinity(0, before)
            reader.stdin.close()
            reader.wait()
    return {"shared_us": 1e6 * statistics.median(shared_us),
            "own_us": 1e6 * statistics.median(own_us)}  # fmt: skip


# ``shared_us`` over ``own_us`` below this: the two CPUs share a cache.  Measured on a 2-vCPU
# virtual machine (docs/performance.md): about 4-5 with the vCPUs on host cores sharing an L3
# cache, 18-20 with them apart, 1.5 on the two threads of one core.
SHARED_CACHE_FACTOR = 8


def share_a_cache(probe: dict) -> bool:
    """Whether a :func:`cross_core_write` measurement says the two CPUs share a cache."""
    return probe["shared_us"] < SHARED_CACHE_FACTOR * probe["own_us"]


def _copy_seconds(out: np.ndarray, values: np.ndarray) -> float:
    started = time.perf_counter()
    np.copyto(out, values)
    return time.perf_counter() - started


# the other CPU's process: at each "r" on stdin, read the whole array, then answer "d"
_READER = """
import os, sys
import numpy as np
path, size, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.sched_setaffinity(0, {cpu})
shared = np.memmap(path, dtype=np.float32, mode="r", shape=(size,))
while sys.stdin.buffer.read(1) == b"r":
    shared.sum()
    sys.stdout.buffer.write(b"d")
    sys.stdout.buffer.flush()
"""
