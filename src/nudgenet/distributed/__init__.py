"""Data-parallel training over MPI: the same run on 1 process, N processes or N machines.

``mpiexec -n 4 python script.py`` with ``ng.fit(..., distributed=True, seed=0)`` in the script
(or ``mpiexec -n 4 nudgenet train ...``) trains one model on four processes (*ranks*), each
computing the gradient of its share of every batch (mpi4py, the ``mpi`` extra:
``pip install "nudgenet[mpi]"``, which brings the ``mpich`` wheel and its ``mpiexec``):

* rank 0's parameters (and, resuming a checkpoint, its whole saved state) go to every rank;
* every epoch all ranks draw the same row order from the shared ``seed``; each global batch of
  ``batch_size`` rows is split in contiguous shares (:mod:`.shard`);
* each step the ranks' gradients and losses, weighted by their rows, are summed over the
  optimiser's flat gradient buffer: through the memory a machine's ranks share, each rank
  summing and updating its part of one shared copy of the parameters (:mod:`.node`), and an
  ``Allreduce`` of each part across machines; or one ``Allreduce`` of the whole buffer, every
  rank updating its own copy (:mod:`.allreduce`).  Either way the update is the one a single
  process takes on the whole batch;
* an epoch's metrics and validation scores are computed over all rows exactly once (and
  ``ng.evaluate(..., distributed=True)``'s, after training); the History holds rank 0's logs,
  the same on every rank, and any rank's stop stops all; only rank 0 prints and writes files;
* an error on one rank ends every rank (one that every rank's argument checks raise alike,
  before any collective, reaches the caller as in one process); ranks that differ are caught
  at the start (and, for
  the optimiser's settings, as each epoch begins and after it) (:mod:`.faults`,
  :mod:`.compared`).

:mod:`.launch` says whether a launcher started this process, :mod:`.parallel` is what ``fit``
calls; :func:`last_run` says which reduction the last run used and what it cost.  :func:`guard` is
:func:`~.faults.abort_on_error` for a script's own code around ``fit`` (a no-op without a
launcher).
"""

from __future__ import annotations

import contextlib

from ..errors import DistributedError
from .faults import abort_on_error
from .launch import launcher, world
from .parallel import DataParallel, last_run


def rank() -> int:
    """This process's rank in ``MPI.COMM_WORLD`` (0 when no launcher started it).  Under a
    launcher this joins MPI: from then on an exception nothing catches ends the job."""
    return world("nudgenet.distributed.rank").Get_rank() if launcher() else 0


def size() -> int:
    """How many ranks ``MPI.COMM_WORLD`` has (1 when no launcher started it); joins MPI under a
    launcher, as :func:`rank` does."""
    return world("nudgenet.distributed.size").Get_size() if launcher() else 1


def guard():
    """A context manager: under a launcher of several ranks, an exception in the block ends
    every rank (:func:`~.faults.abort_on_error`: its traceback, then one line naming it;
    ``sys.exit(n)`` ends them with code n, ``sys.exit(0)`` passes); with one rank, or no
    launcher (then it needs no mpi4py), the exception passes as without it."""
    if launcher() is None:
        return contextlib.nullcontext()
    return abort_on_error(world("nudgenet.distributed.guard"))


__all__ = [
    "DataParallel",
    "DistributedError",
    "abort_on_error",
    "guard",
    "last_run",
    "launcher",
    "rank",
    "size",
    "world",
]
