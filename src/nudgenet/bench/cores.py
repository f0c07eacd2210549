"""Whether two of this process's CPUs share a cache, measured: what overwriting data that a
process on the other CPU has just read costs.

On a virtual machine the hypervisor may move the virtual CPUs between host cores that share a
cache and cores that do not, from one minute to the next (docs/performance.md, "Where the two
CPUs are"); processes that exchange data at every step (data-parallel ranks, a BLAS's threads)
then pay several times more for the exchange.  A read of what the other CPU wrote costs the
same either way (it is prefetched); a write does not: each line the other CPU holds a copy of
must first be invalidated there, one after the other.

Run as a script, this file is the reading process (:func:`_read_when_asked`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

# The two CPUs share a cache when overwriting what the other read costs less than this many
# times overwriting what only this process holds: chosen between the ratios measured near and
# apart (docs/performance.md, "Where the two CPUs are").
SHARED_CACHE_FACTOR = 8
ANSWER_SECONDS = 10  # a reading process silent this long is taken for stuck
T = TypeVar("T")


def cross_core_write(kib: int = 512, repeats: int = 60) -> dict | None:
    """``{"shared_us", "own_us"}``: the medians over ``repeats`` of the µs this process takes to
    overwrite ``kib`` KiB that a process on another CPU has just read, and to overwrite them
    again at once (only this process holds the lines then); the two CPUs are the first two this
    process may run on.  None with fewer than two.

    Raises:
        OSError: no file of ``kib`` KiB can be made in ``/dev/shm`` (or the temporary folder).
        RuntimeError: the reading process ended, or did not answer for ANSWER_SECONDS.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None
    values = np.ones(kib * 256, dtype=np.float32)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    handle, path = tempfile.mkstemp(dir=shm, prefix="nudgenet_cores_")
    try:
        os.posix_fallocate(handle, 0, values.nbytes)  # a full folder: OSError, not SIGBUS later
        shared = np.memmap(path, dtype=np.float32, mode="r+", shape=values.shape)
        command = [sys.executable, __file__, path, str(values.size), str(cpus[1])]
        pipe = subprocess.PIPE
        with subprocess.Popen(command, stdin=pipe, stdout=pipe, bufsize=0) as reader:
            return _overwrites(reader, cpus, shared, values, repeats, path)
    finally:
        os.close(handle)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def around(run: Callable[[], T]) -> tuple[T, dict | None]:
    """``run()``'s result, with :func:`cross_core_write` just before and just after it:
    ``{"shared_us": [before, after], "own_us": [before, after], "share_a_cache": whether both
    say so}`` (to 0.1 µs).  None where it cannot be measured: fewer than two CPUs, or a probe
    that failed (said on stderr: a benchmark goes on without it)."""
    before = _probe()
    found = run()
    after = _probe() if before else None
    if not (before and after):
        return found, None
    probes = {key: [round(before[key], 1), round(after[key], 1)] for key in before}
    return found, {**probes, "share_a_cache": share_a_cache(before) and share_a_cache(after)}


def described(probes: dict | None) -> str:
    """:func:`around`'s probes in a few words: ``"50.3, 55.2 µs (alone 12.4, 11.9): near"``."""
    if probes is None:
        return "no cross-core probe"
    shared, own = probes["shared_us"], probes["own_us"]
    where = "near" if probes["share_a_cache"] else "apart"
    return f"{shared[0]}, {shared[1]} µs (alone {own[0]}, {own[1]}): {where}"


def _probe() -> dict | None:
    """:func:`cross_core_write`, or None with a note on stderr where it failed."""
    try:
        return cross_core_write()
    except (OSError, RuntimeError) as error:
        print(f"note: no cross-core probe: {error}", file=sys.stderr)
        return None


def share_a_cache(probe: dict) -> bool:
    """Whether a :func:`cross_core_write` result says the two CPUs share a cache:
    ``shared_us < SHARED_CACHE_FACTOR × own_us``."""
    return probe["shared_us"] < SHARED_CACHE_FACTOR * probe["own_us"]


def _overwrites(reader, cpus: list[int], shared, values, repeats: int, path: str) -> dict:
    """The timed overwrites of ``shared`` on ``cpus[0]``, each after ``reader`` (on ``cpus[1]``)
    has read it; this process's CPUs as they were afterwards."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpus[0]})
        shared_seconds, own_seconds = [], []
        for i in range(repeats):
            _ask(reader, cpus[1])
            if i == 0:  # both have it mapped now: a killed run leaves no file behind
                os.unlink(path)
            shared_seconds.append(_copy_seconds(shared, values))
            own_seconds.append(_copy_seconds(shared, values))
    finally:
        os.sched_setaffinity(0, before)
    return {"shared_us": 1e6 * statistics.median(shared_seconds),
            "own_us": 1e6 * statistics.median(own_seconds)}  # fmt: skip


def _ask(reader, cpu: int) -> None:
    """One read by ``reader``, waited for (ANSWER_SECONDS at most; then it is killed)."""
    with contextlib.suppress(BrokenPipeError):  # ended: said below, with its exit status
        reader.stdin.write(b"r")
    ready, _, _ = select.select([reader.stdout], [], [], ANSWER_SECONDS)
    answer = reader.stdout.read(1) if ready else None
    if answer == b"d":
        return
    if answer is None:
        reader.kill()
        raise RuntimeError(
            f"cross_core_write: the reading process on CPU {cpu} did not answer in "
            f"{ANSWER_SECONDS} s"
        )
    raise RuntimeError(
        f"cross_core_write: the reading process on CPU {cpu} ended (exit status {reader.wait()})"
    )


def _copy_seconds(out: np.ndarray, values: np.ndarray) -> float:
    started = time.perf_counter()
    np.copyto(out, values)
    return time.perf_counter() - started


def _read_when_asked(path: str, size: int, cpu: int) -> None:
    """The reading process: on ``cpu``, at each "r" on stdin it reads the ``size`` float32 of
    ``path`` and answers "d"; it ends when stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches both; the asker ends it
    os.sched_setaffinity(0, {cpu})
    shared = np.memmap(path, dtype=np.float32, mode="r", shape=(size,))
    asked, answer = sys.stdin.buffer, sys.stdout.buffer
    while asked.read(1) == b"r":
        shared.sum()
        answer.write(b"d")
        answer.flush()


if __name__ == "__main__":
    _read_when_asked(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
