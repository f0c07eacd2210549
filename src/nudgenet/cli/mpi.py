"""Commands started by an MPI launcher (``mpiexec -n 4 nudgenet train ...``): one data-parallel
run, never N independent copies racing to write one file.

:func:`under_mpi` wraps a command's ``run(args)``: started by a launcher (its variables in the
environment, :func:`nudgenet.distributed.launcher`) the command runs with ``args.distributed``
True inside :func:`~nudgenet.distributed.abort_on_error` (an error on any rank ends every rank
with one line naming it); ranks other than 0 print nothing and write no file
(:func:`nudgenet.files.may_write`).  A launcher that claims more than one process while mpi4py
is missing is a one-line error naming the ``mpi`` extra.
"""

from __future__ import annotations

import contextlib
import os

from .. import files
from ..distributed import DistributedError, abort_on_error, launcher, world


def under_mpi(command: str, run):
    """``run`` as a data-parallel command when a launcher started this process (module doc)."""

    def wrapped(args) -> int:
        found = launcher()
        if found is None:
            return run(args)
        name, size = found
        try:
            comm = world(f"nudgenet {command}")
        except DistributedError:
            if size == 1:  # one process: nothing to race with
                return run(args)
            raise
        args.distributed = True
        rank = comm.Get_rank()
        previous = files.set_may_write(rank == 0)
        try:
            with abort_on_error(comm), _silent(rank != 0):
                return run(args)
        finally:
            files.set_may_write(previous)

    return wrapped


@contextlib.contextmanager
def _silent(silent: bool):
    """Send stdout and stderr to the null device in the block when ``silent``."""
    if not silent:
        yield
        return
    with open(os.devnull, "w") as null:
        with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            yield
