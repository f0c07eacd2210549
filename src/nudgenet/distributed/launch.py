"""Was this process started by an MPI launcher, and the communicator when it was.

A launcher (``mpiexec``, ``mpirun``, Slurm's ``srun``) tells each process it starts so through
its environment; :func:`launcher` reads that, without importing MPI, so ``nudgenet train`` can
refuse to run N independent copies racing to write one file when mpi4py is missing.  It knows
two launchers that start no MPI too, torchrun and horovodrun (:data:`NOT_MPI`): a script or
``nudgenet train`` started by them is refused the same way rather than run as N copies.
:func:`world` imports mpi4py lazily (the ``mpi`` extra) and returns ``MPI.COMM_WORLD``; it
refuses a world of 1 under a launcher that started several processes: the launcher is not one
mpi4py's MPI speaks to, and makes each process a world of its own (every one "rank 0 of 1").
:func:`warn_copies` warns where ``fit(distributed=False)`` runs under a launcher of several.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import warnings
from pathlib import Path

from ..errors import DistributedError, caller_stacklevel
from .faults import abort_on_uncaught

# the variables holding the size, in the order checked: MPICH's Hydra and Intel MPI, Open MPI,
# Slurm's srun (its step's task count: an sbatch script itself is no step); then NOT_MPI's
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
_RANK_ONLY_VARIABLES = ("PMIX_RANK", "PMI_RANK")  # PMIx, and PMI without a size
# launchers that start no MPI, by the variable of the size they set: torch.distributed's and
# Horovod's (with gloo; with MPI, horovodrun runs mpirun, whose variables come first)
NOT_MPI = {"WORLD_SIZE": "torchrun", "HOROVOD_SIZE": "horovodrun"}

MPI_EXTRA = 'pip install "nudgenet[mpi]"'


def launcher() -> tuple[str, int | None] | None:
    """``(variable, world size)`` when a launcher's variable is in the environment (the size
    None where the variable holds only a rank), else None.  A :data:`NOT_MPI` launcher counts
    only when it started several processes: with one there is no MPI to join and nothing to
    race with (tools of torch's ``env://`` convention set ``WORLD_SIZE=1`` for one process)."""
    for name in (*_SIZE_VARIABLES, *NOT_MPI):
        value = os.environ.get(name)
        if value and value.isdigit() and (name not in NOT_MPI or int(value) > 1):
            return name, int(value)
    for name in _RANK_ONLY_VARIABLES:
        if os.environ.get(name):
            return name, None
    return None


def launched_by(found: tuple[str, int | None]) -> str:
    """Who started this process by :func:`launcher`'s answer ``found``, for messages:
    ``"torchrun"``, ``"horovodrun"`` or ``"an MPI launcher"``."""
    return NOT_MPI.get(found[0], "an MPI launcher")


def several(found: tuple[str, int | None] | None) -> bool:
    """Whether :func:`launcher`'s answer ``found`` says it started more than one process (a
    variable holding only a rank says nothing of the size)."""
    return found is not None and (found[1] or 0) > 1


def world(what: str):
    """``MPI.COMM_WORLD``; DistributedError naming the extra when mpi4py is missing, and naming
    the launchers to use when a launcher started several processes but MPI sees a world of 1
    (see the module doc).  In a world of several ranks, an exception nothing catches then ends
    every rank (:func:`~.faults.abort_on_uncaught`)."""
    found = launcher()
    try:
        from mpi4py import MPI
    except ImportError:
        where = f" (started by {launched_by(found)}: {found[0]} is set)" if found else ""
        raise DistributedError(
            f"{what} needs mpi4py{where}, which is not installed: {MPI_EXTRA}"
        ) from None
    if several(found) and MPI.COMM_WORLD.Get_size() == 1:
        name, size = found
        wheel = Path(sys.executable).with_name("mpiexec")
        use = f"{wheel} (the mpich wheel's)" if wheel.exists() else "the mpiexec of that MPI"
        why = (
            f"{NOT_MPI[name]} starts no MPI, over which nudgenet trains data-parallel"
            if name in NOT_MPI
            else "mpi4py's MPI does not speak to this launcher (srun without --mpi=pmi2, or "
            f"another MPI's mpiexec; mpi4py's is "
            f"{MPI.Get_library_version().splitlines()[0].strip()})"
        )
        raise DistributedError(
            f"{what} runs under {launched_by(found)}, which started {size} processes ({name} is "
            "set), but MPI sees a world of 1 process here: each would run alone, writing the "
            f"same files; {why}: start them with {use} or srun --mpi=pmi2"
        )
    abort_on_uncaught()
    return MPI.COMM_WORLD


_ALONE_BY_DESIGN = contextvars.ContextVar("nudgenet_alone_by_design", default=False)


@contextlib.contextmanager
def alone_by_design():
    """Inside it, ``fit(distributed=False)`` under a launcher does not warn (:func:`warn_copies`):
    for callers that train one model per process by design and offer no ``distributed`` (the
    scikit-learn estimators, fitted one per rank in an mpi4py sweep, say)."""
    token = _ALONE_BY_DESIGN.set(True)
    try:
        yield
    finally:
        _ALONE_BY_DESIGN.reset(token)


def warn_copies(checkpoint) -> None:
    """A RuntimeWarning when ``fit(distributed=False)`` runs under a launcher of several
    processes: each trains its own copy, and writes its files (a script under ``mpiexec`` that
    forgot ``distributed=True``; with a ``checkpoint``, perhaps all in one folder, whose lock
    refuses the second run there).  Processes meant to train models of their own (a sweep) may
    ignore it (``warnings.filterwarnings``)."""
    found = launcher()
    if several(found) and not _ALONE_BY_DESIGN.get():
        folder = checkpoint and f" (this one's checkpoint folder: {checkpoint.directory})"
        warnings.warn(
            f"fit: {launched_by(found)} started {found[1]} processes ({found[0]} is set), but "
            f"distributed=False: each process trains its own copy{folder or ''}; pass "
            "distributed=True (and a seed) to train one model on all of them, or ignore this "
            "where each process trains a model of its own",
            RuntimeWarning,
            stacklevel=caller_stacklevel(),
        )
