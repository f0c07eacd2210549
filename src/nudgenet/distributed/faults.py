"""No hangs: a rank that fails ends every rank, and ranks that differ are caught at the start.

MPI's collectives wait for every rank: one rank raising while the others wait in an
``Allreduce`` would hang the job (and a rank that merely exits leaves the others waiting in
``MPI_Finalize``).  :func:`abort_on_error` turns any exception on one rank (bad data,
``MemoryError``, ``KeyboardInterrupt``, ...) into one line on stderr naming the rank and the
error, then ``MPI_Abort``, which ends every rank of the job within moments with a non-zero exit
code (130 for Ctrl-C, 1 otherwise; MPICH's launcher adds a line of its own).  A rank killed
outright (SIGKILL, the kernel's OOM killer) is the launcher's to clean up: MPICH's Hydra ends
the job at once with the signal's exit code.

:func:`check_same` runs once before training: one small ``allgather`` of each rank's
description of its run (the model's layers and parameter shapes, the optimiser and its
settings, fit's options, the data's shapes and a checksum of a sample of its rows); a rank
whose description differs from rank 0's is a :class:`~nudgenet.errors.DistributedError`
naming the rank and the first difference, instead of a deadlock or a wrong average.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator

from ..errors import DistributedError, first_difference

_FORWARDED = 0.5  # seconds the launcher gets to pass a failing rank's line on


def describe(error: BaseException) -> str:
    """One line: the error's type and its first line of message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    if isinstance(error, MemoryError):
        return f"out of memory (MemoryError{f': {error}' if str(error) else ''})"
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextlib.contextmanager
def abort_on_error(comm) -> Iterator[None]:
    """Run the block; on any exception (a ``SystemExit`` of code 0 aside) print one line naming
    this rank and the error to stderr and ``Abort`` every rank (see the module doc)."""
    try:
        yield
    except BaseException as error:
        if isinstance(error, SystemExit) and error.code in (0, None):
            raise
        _abort(comm, error)


def abort_on_uncaught(comm) -> None:
    """Make an exception that nothing catches (in a script's own code before or after ``fit``)
    end every rank as :func:`abort_on_error` does, after Python's usual report of it: a rank
    that merely exits leaves the others waiting in their next collective for ever.  Installed
    (once) as ``sys.excepthook`` when a process joins a world of several ranks."""
    previous = sys.excepthook
    if getattr(previous, "aborts", False):
        return

    def hook(kind, error, traceback) -> None:
        previous(kind, error, traceback)
        _abort(comm, error)

    hook.aborts = True
    sys.excepthook = hook


def _abort(comm, error: BaseException) -> None:
    """One line naming this rank and ``error`` on stderr, then ``Abort`` every rank."""
    code = 130 if isinstance(error, KeyboardInterrupt) else 1
    line = f"nudgenet: rank {comm.Get_rank()} of {comm.Get_size()}: {describe(error)}"
    print(line, file=sys.__stderr__ or sys.stderr, flush=True)
    time.sleep(_FORWARDED)  # the launcher forwards the line before Abort tears it down
    comm.Abort(code)
    os._exit(code)  # MPICH's Abort may return before the launcher ends this process


def check_same(comm, mine: dict) -> None:
    """DistributedError on rank 0 naming the first rank whose ``mine`` differs from rank 0's
    and the first differing key; the other ranks go on to the next collective, where rank 0's
    abort ends them."""
    mine = json.loads(json.dumps(mine, default=str))  # what is compared: plain values
    everyone = comm.allgather(mine)
    if comm.Get_rank():
        return
    for rank, theirs in enumerate(everyone[1:], start=1):
        difference = first_difference(everyone[0], theirs, here="on rank 0")
        if difference:
            raise DistributedError(
                f"rank {rank} runs another fit than rank 0: {difference} (every rank must build "
                "the same model and optimiser and pass the same options and data)"
            )
