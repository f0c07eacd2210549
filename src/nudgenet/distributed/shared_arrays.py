"""Arrays held once per machine: its first rank's, read in place by the machine's other ranks.

A machine's ranks (``Split_type(COMM_TYPE_SHARED)``, :func:`~.shared_memory.split_nodes`) can share
memory.  :func:`share_arrays` copies the first rank's named arrays into one MPI shared-memory
window (``Win.Allocate_shared``) and gives every rank of the machine read-only views of them:
N ranks then hold one copy of a data set, not N, and each touches only the pages of the rows it
reads.  The first rank's own arrays can go once it has the views.  Where the machine's
``/dev/shm`` lacks room (a container's default is 64 MiB) it warns and returns None on every
rank of that machine: each rank then needs its own copy, as without it.

The views are valid until :meth:`SharedArrays.free`, which every rank of the machine calls at the
end, when none of them reads the arrays any more (MPI frees a window collectively).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import SharedMemoryWarning, caller_stacklevel
from .shared_memory import SHARED_MEMORY, aligned, has_room, shared_memory_free, synchronize


class SharedArrays:
    """Read-only views of one shared-memory window, by name (``arrays``)."""

    def __init__(self, window, arrays: dict[str, np.ndarray]):
        self.window, self.arrays = window, arrays

    def free(self) -> None:
        """Free the window (collective over the machine's ranks): the views must not be read
        after it."""
        self.arrays = {}
        self.window.Free()


def share_arrays(machine, arrays: dict[str, np.ndarray] | None, what: str) -> SharedArrays | None:
    """``arrays`` of ``machine``'s rank 0 (ignored on its other ranks) as a :class:`SharedArrays`
    on every rank of ``machine`` (collective); None on every rank where ``/dev/shm`` lacks room
    for them, with a warning on rank 0 naming ``what`` they are, or where one holds Python
    objects."""
    from mpi4py import MPI

    first = machine.Get_rank() == 0
    layout, size = machine.bcast(_layout(arrays, what) if first else None)
    if layout is None:
        return None
    window = MPI.Win.Allocate_shared(size if first else 0, 1, comm=machine)
    memory = np.frombuffer(window.Shared_query(0)[0], np.uint8)
    views = {
        name: memory[offset : offset + nbytes].view(dtype).reshape(shape)
        for name, shape, dtype, offset, nbytes in layout
    }
    if first:
        for name, view in views.items():
            view[...] = arrays[name]
    window.Lock_all(MPI.MODE_NOCHECK)
    synchronize(window, machine)  # what rank 0 wrote, visible to all after
    window.Unlock_all()
    for view in views.values():
        view.flags.writeable = False  # one copy for all: a write would change every rank's rows
    return SharedArrays(window, views)


def _layout(arrays: dict[str, np.ndarray], what: str) -> tuple[list[tuple] | None, int]:
    """``(name, shape, dtype, offset, bytes)`` of each array in the window (None: see
    :func:`share_arrays`), and the window's bytes."""
    layout, offset = [], 0
    for name, array in arrays.items():
        if array.dtype.hasobject:
            return None, 0
        layout.append((name, array.shape, array.dtype.str, offset, array.nbytes))
        offset += aligned(array.nbytes)
    free = shared_memory_free()
    if not has_room(free, offset):
        warnings.warn(
            f"{SHARED_MEMORY} has {free / 2**20:.0f} MiB free where the ranks of a machine would "
            f"share the {offset / 2**20:.3g} MiB of {what}: each rank holds its own copy (give "
            "the machine or container more, e.g. docker run --shm-size)",
            SharedMemoryWarning,
            stacklevel=caller_stacklevel(),
        )
        return None, 0
    return layout, offset
