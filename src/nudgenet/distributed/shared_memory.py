"""The memory a machine's ranks share (MPI's ``COMM_TYPE_SHARED``): which ranks those are, room
in ``/dev/shm`` for a window, where arrays start in one, and MPI-3's idiom for the moment what
each rank wrote there is visible to all.  Used by the step's reduction (:mod:`.node`), the data
sets held once per machine (:mod:`.shared_arrays`), the BLAS threads per rank (:mod:`.threads`)
and ``nudgenet train`` under a launcher (:mod:`nudgenet.cli.mpi`).
"""

from __future__ import annotations

import os

_ALIGN = 64  # bytes: each array in the window starts on a cache line
SHARED_MEMORY = "/dev/shm"  # where MPICH's shared-memory windows live (a tmpfs)


def aligned(nbytes: int) -> int:
    """``nbytes`` rounded up to whole cache lines (where the next array in a window starts)."""
    return -(-nbytes // _ALIGN) * _ALIGN


def split_nodes(comm):
    """``comm``'s ranks that share memory (MPI's ``COMM_TYPE_SHARED``): this rank's node."""
    from mpi4py import MPI

    return comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())


def shared_memory_free() -> int | None:
    """Bytes free where MPICH makes a machine's shared memory (``/dev/shm``), None where that
    cannot be told."""
    try:
        found = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


def synchronize(window, comm) -> None:
    """Every rank of ``comm`` here, and what each wrote to the shared ``window`` visible to all:
    MPI-3's idiom, ``Win.Sync(); Barrier(); Win.Sync()``, inside a passive-target epoch
    (``Lock_all``)."""
    window.Sync()
    comm.Barrier()
    window.Sync()


def has_room(free: int | None, needed: int) -> bool:
    """Whether ``free`` bytes of shared memory (None: unknown, assumed) hold ``needed`` and an
    eighth more to spare."""
    return free is None or free >= needed + (needed >> 3)
