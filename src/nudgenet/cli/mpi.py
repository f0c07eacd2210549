"""Commands started by an MPI launcher (``mpiexec -n 4 nudgenet train ...``): one data-parallel
run, never N independent copies racing to write one file.

:func:`under_mpi` wraps a command's ``run(args)``: started by a launcher (its variables in the
environment, :func:`nudgenet.distributed.launcher`) the command runs with ``args.distributed``
True inside :func:`~nudgenet.distributed.abort_on_error` (an error on any rank ends every rank
with one line naming it, after its traceback only when it is not a user's mistake, which the
command line reports in one line alone); ranks other than 0 print nothing and write no file
(:func:`nudgenet.files.may_write`).  A launcher that claims more than one process while mpi4py
is missing is a one-line error naming the ``mpi`` extra.  :func:`one_process` wraps the other
commands, which run in one process: started as several processes, they refuse in one line, and
through MPI where they can join it (then aborting the job, :func:`through_mpi`, as the parser's
usage errors do): the job's other processes (``mpiexec -n 1 nudgenet train ... : -n 1 nudgenet
evaluate ...``) would otherwise wait at MPI's start for ever for one that never joins; so does
``--help`` and ``--version`` (:func:`answer_once`): every process of the job asked, rank 0 says
it once; some run a command meanwhile, the job ends with a line naming the rank that asked.
:func:`load_once_per_machine` loads the data set on one rank of each machine, whose other ranks
read it from the memory they share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import NoReturn

import numpy as np

from .. import files, recipes
from ..distributed import DistributedError, abort_on_error, launcher, world
from ..distributed.faults import barrier
from ..distributed.launch import NOT_MPI, launched_by
from ..distributed.shared_arrays import SharedArrays, share_arrays
from .common import USER_ERRORS, label_column

# what main() reports in one line alone reaches the other ranks' abort in one line too
ONE_LINE = (MemoryError, *USER_ERRORS)

# under mpiexec the batch is the global one: the ranks take the very steps one process takes
BATCH_SIZE_HELP = (
    "rows per step (default: %(default)s); under mpiexec the global batch, shared by the ranks: "
    "keep it and --lr as for one process, the same run to rounding (which a long float32 run "
    "amplifies: see --dtype)"
)


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
            with abort_on_error(comm, one_line=ONE_LINE), _silent(rank != 0):
                _meet(comm, f"nudgenet {command}", None)
                return run(args)
        finally:
            files.set_may_write(previous)

    return wrapped


def load_once_per_machine(args, load) -> tuple[recipes.Dataset, SharedArrays | None]:
    """``load()`` of the data set ``args.dataset``, and where it lives.  Without mpiexec
    (``args.distributed`` False): loaded, in this process's memory (None).  Under mpiexec the
    first rank of each machine loads it (rank 0 before the others for a data set that downloads
    the files it lacks, ``DatasetRecord.downloads``: MNIST, whose files then come once in all
    where the machines share the cache, once a machine where they do not) and its arrays go into
    memory the machine's ranks share, read-only (:mod:`nudgenet.distributed.shared_arrays`):
    one copy a machine, not one a rank; the :class:`SharedArrays` holding them is returned,
    to ``free()`` when the run is over.  Where a machine's ``/dev/shm`` lacks room, each of its
    ranks loads its own copy (None)."""
    if not args.distributed:
        return load(), None
    from ..distributed.shared_memory import split_nodes

    comm = world("nudgenet train")
    machine = split_nodes(comm)
    first = machine.Get_rank() == 0  # rank 0 is its machine's first: Split_type keeps the order
    data = None
    if getattr(recipes.DATASETS.get(args.dataset), "downloads", False):
        data = load() if comm.Get_rank() == 0 else None
        barrier(comm)  # an error on a loading rank ends every rank (under_mpi's abort) as they wait
    if first and data is None:
        data = load()
    barrier(comm)
    arrays = _arrays(data) if first else None
    alone = machine.Get_size() == 1  # a machine of one rank: nothing to share
    shared = None if alone else share_arrays(machine, arrays, "the data set")
    if shared is None:
        data = load() if data is None else data  # from the cache, where the data set downloads
    elif first:
        machine.bcast({k: v for k, v in vars(data).items() if k != "record" and k not in arrays})
        data = dataclasses.replace(data, **shared.arrays)  # its own copy can go
    else:  # the rest of the data set from the first rank; its record (which loads) made here
        described = machine.bcast(None)
        record = recipes.record_for(args.dataset, args.labels, label_column(args.label_column))
        data = recipes.Dataset(record=record, **shared.arrays, **described)
    machine.Free()
    return data, shared


def _arrays(data: recipes.Dataset) -> dict[str, np.ndarray]:
    """The data set's arrays by field name (its rows, targets, ∂y/∂x labels)."""
    return {name: value for name, value in vars(data).items() if isinstance(value, np.ndarray)}


@contextlib.contextmanager
def _silent(silent: bool):
    """Send stdout and stderr to the null device in the block when ``silent``."""
    if not silent:
        yield
        return
    with open(os.devnull, "w") as null:
        with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            yield


def one_process(run):
    """``run`` for a command that runs in one process: a DistributedError (one line) when a
    launcher started several processes, which would each print the results and write the same
    files (a launcher's variable without a size counts as several); raised inside
    :func:`~nudgenet.distributed.abort_on_error` when MPI can be joined (module doc)."""

    def wrapped(args) -> int:
        found = launcher()
        if found is None or found[1] == 1:
            return run(args)
        name, size = found
        refusal = DistributedError(
            f"this command runs in one process, but {launched_by(found)} started "
            f"{f'{size} processes' if size else 'it'} ({name} is set): run it without "
            f"{NOT_MPI.get(name, 'mpiexec')} (only nudgenet train trains data-parallel)"
        )
        through_mpi(refusal, f"nudgenet {args.command}")

    return wrapped


def through_mpi(mistake: Exception, what: str) -> NoReturn:
    """Raise ``mistake``, a user's one-line mistake in the command ``what`` under a launcher of
    several processes, inside :func:`~nudgenet.distributed.abort_on_error` where MPI can be
    joined: the job then ends with rank 0's line alone when every rank makes it (the others
    defer theirs), and a job whose other processes run another command (``mpiexec -n 1
    nudgenet train ... : -n 1 nudgenet evaluate ...``) does not wait at MPI's start for ever for
    this one; as it is where MPI cannot be joined (no mpi4py, or each process a world of its
    own: none waits)."""
    try:
        comm = world(what)
    except DistributedError:
        raise mistake from None
    with abort_on_error(comm, one_line=ONE_LINE):
        raise mistake


def answer_once(answer: str, asked: str) -> None:
    """Print ``answer``, what the command line ``asked`` (``nudgenet train --help``,
    ``nudgenet --version``) says before it exits 0.  Under a launcher of several processes it
    joins MPI (the job's others would wait at MPI's start for ever for one that never joins):
    every process asked, rank 0 prints each answer they asked for once (not once a rank); some
    run a command, the job ends (:func:`_meet`).  Alone, or where MPI cannot be joined (no
    mpi4py, or each process a world of its own: none waits), it prints it."""
    comm, found = None, launcher()
    if found is not None and found[1] != 1:
        with contextlib.suppress(DistributedError):
            comm = world(asked)
    if comm is None or comm.Get_size() == 1:
        print(answer, end="")
        return
    with abort_on_error(comm, one_line=ONE_LINE):
        answers = _meet(comm, asked, answer)
    if comm.Get_rank() == 0:
        print("".join(dict.fromkeys(answers)), end="")


def _meet(comm, asked: str, answer: str | None) -> list[str | None]:
    """Every rank's answer (None for a rank that runs its command) from the first collective of
    nudgenet's command line under a launcher, where each rank says what it ``asked``; a
    DistributedError, alike on every rank (rank 0's line alone), where some asked for an answer
    (``--help``) while others run a command, which would wait for them in its next collective
    for ever."""
    everyone = comm.allgather((asked, answer))
    answering = [rank for rank, (_, said) in enumerate(everyone) if said is not None]
    running = [rank for rank, (_, said) in enumerate(everyone) if said is None]
    if answering and running:
        one, other = answering[0], running[0]
        raise DistributedError(
            f"rank {one} asked for {everyone[one][0]!r}, which answers and exits, while rank "
            f"{other} runs {everyone[other][0]!r}: every process of the job must run the same "
            "nudgenet command"
        )
    return [said for _, said in everyone]
