"""BLAS threads per rank: a machine's cores shared among the ranks running on it.

Each rank's BLAS would start as many threads as the machine has cores; with several ranks on one
machine they would then fight over the cores (on 2 cores, 2 ranks of 2 threads each ran several
times slower than 1 thread each).  :func:`blas_threads_per_rank` caps a data-parallel run's BLAS
threads at :func:`threads_per_rank`: the cores the machine's ranks may run on, together, divided
by how many they are (MPI says which ranks share a machine), and at most the cores this rank may
run on (a launcher that binds each rank to cores of its own, as ``srun --cpus-per-task=4`` or
``mpiexec -bind-to core:4`` do, already gave each its share: 8 ranks bound to 4 cores each of 32
get 4 threads each, not 4 // 8); at least 1, and never above a lower limit the user set.  More
ranks on a machine than it has cores for them (:func:`oversubscribed`) are warned about: ranks
then wait for a core, and every step waits for the slowest rank.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from threadpoolctl import threadpool_info, threadpool_limits

from ..errors import caller_stacklevel
from .shared_memory import split_nodes


def affinity() -> set[int]:
    """The cores this process may run on (all of the machine's where the system cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def threads_per_rank(affinities: Sequence[set[int]], mine: set[int]) -> int:
    """BLAS threads for a rank whose cores are ``mine``, among ranks on one machine whose cores
    are ``affinities`` (one set per rank, this one's included): the cores of their union divided
    by the number of ranks, at most ``len(mine)``, at least 1."""
    together = set().union(*affinities)
    return max(1, min(len(together) // len(affinities), len(mine)))


def oversubscribed(affinities: Sequence[set[int]]) -> str | None:
    """The warning for ranks on one machine whose cores are ``affinities`` (one set per rank)
    when they outnumber those cores together, else None."""
    cores = len(set().union(*affinities))
    if len(affinities) <= cores:
        return None
    return (
        f"fit(distributed=True): {len(affinities)} ranks on this machine share {cores} "
        f"core{'s' * (cores > 1)}: a rank waits for a core and every step for the slowest rank, "
        f"so this trains slower than {cores} rank{'s' * (cores > 1)} there would"
    )


def blas_threads_per_rank(comm):
    """A context manager capping BLAS threads for the ranks of ``comm`` on this machine (a
    collective: every rank calls it; one ``allgather`` of their cores among them), after a
    warning when they are :func:`oversubscribed`."""
    mine = affinity()
    neighbours = split_nodes(comm)
    affinities = [set(cores) for cores in neighbours.allgather(sorted(mine))]
    neighbours.Free()
    crowded = oversubscribed(affinities)
    if crowded:
        warnings.warn(crowded, stacklevel=caller_stacklevel())
    current = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return threadpool_limits(min([threads_per_rank(affinities, mine), *current]), user_api="blas")
