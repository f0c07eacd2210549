"""BLAS threads per rank: a machine's cores shared among the ranks running on it.

Each rank's BLAS would start as many threads as the machine has cores; with several ranks on one
machine they would then fight over the cores (on 2 cores, 2 ranks of 2 threads each ran several
times slower than 1 thread each).  :func:`blas_threads_per_rank` caps a data-parallel run's BLAS
threads at the cores this process may use divided by the ranks on its machine (at least 1; MPI
says which ranks share a machine), never raising a lower limit the user set.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def blas_threads_per_rank(comm):
    """A context manager capping BLAS threads for the ranks of ``comm`` on this machine (a
    collective: every rank calls it)."""
    from mpi4py import MPI

    neighbours = comm.Split_type(MPI.COMM_TYPE_SHARED)
    on_this_machine = neighbours.Get_size()
    neighbours.Free()
    current = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    share = max(1, cores() // on_this_machine)
    return threadpool_limits(min([share, *current]), user_api="blas")
