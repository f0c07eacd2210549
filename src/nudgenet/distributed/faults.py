"""No hangs: a rank that fails ends every rank, and ranks that differ are caught at the start
(and, for the optimiser's settings, as each epoch begins and after it).

MPI's collectives wait for every rank: one rank raising while the others wait in an
``Allreduce`` would hang the job (and a rank that merely exits leaves the others waiting in
``MPI_Finalize``).  :func:`abort_on_error` turns any exception on one rank (bad data,
``MemoryError``, ``KeyboardInterrupt``, a non-zero ``sys.exit``; inside a distributed ``fit`` or
``evaluate`` even ``sys.exit(0)``) into Python's report of it (its traceback, as if nothing had
caught it; not for Ctrl-C or ``sys.exit``) and one line naming the rank and the error, written to
stderr in one write (the launcher merges the ranks' streams; a command line's user mistake on a
rank other than 0 after a pause, so that the same mistake on rank 0 is reported once), then
``MPI_Abort``, which ends every rank of the job within moments with a non-zero exit code
(:func:`exit_code`: 130 for Ctrl-C, a ``sys.exit``'s number, the error class's own
``exit_code``, 1 otherwise; MPICH's launcher adds a line of its own).  In a
communicator of one rank the exception passes to the caller (nothing there waits for it); left
uncaught, :func:`abort_on_uncaught` ends a world of several.  An error that every rank raises
alike in a distributed call's argument checks, before its first collective, passes to the
caller too (:class:`Handshake`: ``batch_size=0`` on every rank): nothing waits for it, so a
script may catch it as it would alone (left uncaught, rank 0 alone reports it).  A rank killed
outright (SIGKILL, the kernel's OOM killer) is the launcher's to clean up: MPICH's Hydra ends
the job at once with the signal's exit code.

A rank that leaves normally after joining MPI (its script ends, ``sys.exit(0)``, or it passes
``distributed=False``) while the others start a distributed ``fit`` cannot be told from a slow
one: MPI says nothing of a rank that finalised.  (One that leaves before joining leaves the
others in ``MPI_Init`` for ever: no code of ours runs there.)  :func:`rendezvous`, the first
thing of every distributed ``fit``, waits for every rank without spinning a core, prints one
line on each rank still waiting after ``NUDGENET_STALL_WARNING_SECONDS`` (60), and, when
``NUDGENET_STALL_SHUTDOWN_SECONDS`` is set, ends the job after that long (Horovod's stall check
and its ``HOROVOD_STALL_SHUTDOWN_TIME_SECONDS``, off by default for the same reason: a rank
still loading a large data set is only slow).

:func:`check_same` compares one description per rank in one small ``allgather`` (what is described:
:mod:`.compared` and :meth:`~.parallel.DataParallel.check`), before training, as each epoch begins
and after it (the optimiser's settings) and before a distributed ``evaluate``; a rank whose
description differs from rank 0's is a :class:`~nudgenet.errors.DistributedError` naming the rank
and the first difference, instead of a deadlock or a wrong average.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator

from ..errors import DistributedError, first_difference

_FORWARDED = 0.5  # seconds the launcher gets to pass a failing rank's line on
_DEFERRED = 2.0  # seconds a rank other than 0 waits before reporting a one-line mistake
STALL_WARNING = "NUDGENET_STALL_WARNING_SECONDS"  # a line after this long waiting (default 60)
STALL_SHUTDOWN = "NUDGENET_STALL_SHUTDOWN_SECONDS"  # the job ended after this long (default: never)
# set on an error every rank raised alike (Handshake) where another rank reports it: one not
# rank 0 of the handshake's communicator (a sub-communicator's rank 0 need not be the world's)
_ALIKE = "_nudgenet_reported_by_another"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # in a default repr: <function f at 0x7f...>
_POLL = (1e-4, 0.05)  # seconds between looks at a pending rendezvous: first, at most
# errors abort_on_error reports by their line alone, without a traceback (a command line's user
# mistakes: `nudgenet train` promises one line for them); set by abort_on_error(one_line=...)
_one_line: contextvars.ContextVar[tuple] = contextvars.ContextVar("one_line", default=())


def describe(error: BaseException) -> str:
    """One line: the error's type and its first line of message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    if isinstance(error, MemoryError):
        return f"out of memory (MemoryError{f': {error}' if str(error) else ''})"
    if isinstance(error, SystemExit):  # Python prints a code that is not a number: so do we
        code = error.code
        lines = [] if isinstance(code, int) else str(code).strip().splitlines()
        said = f": {lines[0]}" if lines else ""
        return f"exited with code {exit_code(error)}{said} (sys.exit)"
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def without_addresses(line: str) -> str:
    """``line`` less the memory addresses of Python's default reprs (``<function f at
    0x7f...>``: ``<function f>``), which differ between processes holding alike objects: what
    the ranks compare of an error's line."""
    return _ADDRESS.sub("", line)


def exit_code(error: BaseException) -> int:
    """The job's exit code when ``error`` aborts it: 130 for Ctrl-C (as shells report SIGINT),
    a ``sys.exit``'s number as the shell would see it (never 0: ``sys.exit(0)`` inside a
    distributed ``fit`` or ``evaluate`` is a failure), the error's own ``exit_code`` where its
    class has one (the command line's usage mistakes: 2), else 1 (``sys.exit("message")`` too,
    as in Python)."""
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, SystemExit) and isinstance(error.code, int):
        return error.code % 256 or 1
    own = getattr(type(error), "exit_code", None)
    return own % 256 or 1 if isinstance(own, int) else 1


@contextlib.contextmanager
def abort_on_error(
    comm, exit_line: str = "", one_line: tuple = (), passes=None
) -> Iterator[None]:
    """Run the block; on any exception print Python's report of it and one line naming this rank
    and the error to stderr and ``Abort`` every rank with its :func:`exit_code` (see the module
    doc).  A ``SystemExit`` of code 0 (or None) is a rank leaving normally and passes, unless
    ``exit_line`` is given, its line then: inside a distributed ``fit`` or ``evaluate`` the
    others wait for this one in the next collective, for ever.  In a communicator of one rank
    every exception passes, and so does one for which ``passes(error)`` is true
    (:meth:`Handshake.failed_alike`: every rank raised it alike, before any could wait).
    Errors of the types ``one_line`` (here and in the ``abort_on_error`` blocks within: a
    command line's user mistakes) get the line alone, and
    on ranks other than 0 only after :data:`_DEFERRED` seconds: a mistake every rank makes is
    then reported once, by rank 0, whose abort ends the others first."""
    reset = _one_line.set(one_line or _one_line.get())
    try:
        yield
    except BaseException as error:
        clean = isinstance(error, SystemExit) and error.code in (0, None)
        if comm.Get_size() == 1 or (clean and not exit_line):
            raise
        if not clean and passes is not None and passes(error):
            raise
        mistake = isinstance(error, _one_line.get())
        if mistake and comm.Get_rank():  # the same mistake on rank 0 ends the job first,
            time.sleep(_deferral())  # with its line alone, not one line per rank
        report = "" if mistake else _report(error)
        _abort(comm, error, report, exit_line if clean else describe(error))
    finally:
        _one_line.reset(reset)


def abort_on_uncaught() -> None:
    """In a world of several ranks, make an exception that nothing catches (in a script's own
    code before or after ``fit``) end every rank of ``MPI.COMM_WORLD`` as :func:`abort_on_error`
    does, after Python's usual report of it (as ``python -m mpi4py`` does): a rank that merely
    exits leaves the others waiting in their next collective for ever.  Installed once, as
    ``sys.excepthook``, when a process joins: by :func:`~.launch.world` and by every
    :class:`~.parallel.DataParallel`, whatever its communicator, ``COMM_SELF`` included (the
    ranks of a one-run-per-rank sweep may meet in a collective afterwards).  ``sys.exit``
    reaches no hook: a script started as ``python -m mpi4py script.py`` (mpi4py's runner) ends
    the job on a non-zero one too.  An error every rank raised alike (:class:`Handshake`) is
    reported by rank 0 alone: the others wait :func:`_deferral` first, and its abort ends them."""
    from mpi4py import MPI

    comm, previous = MPI.COMM_WORLD, sys.excepthook
    if comm.Get_size() == 1 or getattr(previous, "aborts", False):
        return

    def hook(kind, error, trace) -> None:
        if getattr(error, _ALIKE, False):  # its communicator's rank 0 reports it for all
            time.sleep(_deferral())
        report = ""
        if previous is sys.__excepthook__:  # Python's report, written with our line at once
            report = "".join(traceback.format_exception(kind, error, trace))
        else:
            previous(kind, error, trace)  # the user's own hook
        _abort(comm, error, report)

    hook.aborts = True
    sys.excepthook = hook


def _say(comm, text: str, before: str = "") -> None:
    """``before`` (lines ending in a newline), then ``nudgenet: rank r of n: text``, on stderr in
    one write (the launcher merges the ranks' streams: lines written in pieces could be cut by
    another rank's)."""
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"{before}nudgenet: rank {comm.Get_rank()} of {comm.Get_size()}: {text}\n")
    stream.flush()


def _report(error: BaseException) -> str:
    """Python's report of ``error``, caught by :func:`abort_on_error`, as it would be had nothing
    caught it (``Traceback (most recent call last): ...``, chained exceptions too): the frames
    from the program's start to the outermost ``with`` block it left, then those of its
    traceback, less the context managers' own frames handling it (this one's, ``running()``'s).
    Empty for ``sys.exit``, which Python does not report, and for Ctrl-C, which at a terminal
    reaches every rank at once: a traceback per rank of wherever each was would bury the line.
    Should the frames defy this reading, the plain traceback from the catching frame: the abort
    must run."""
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        return ""
    try:
        block = error.__traceback__
        while block.tb_next and _exiting(block.tb_frame):
            block = block.tb_next
        found = traceback.TracebackException(type(error), error, block)
        caller = block.tb_frame.f_back  # None for a script's top level
        outer = traceback.extract_stack(caller) if caller else []
        found.stack = traceback.StackSummary.from_list([*outer, *found.stack])
        return "".join(found.format())
    except Exception:  # noqa: BLE001
        return "".join(traceback.format_exception(error))


def _exiting(frame) -> bool:
    """Whether ``frame`` is a ``@contextmanager`` generator's that its ``__exit__`` runs."""
    code = frame.f_back and frame.f_back.f_code
    return bool(code) and (code.co_filename, code.co_name) == (contextlib.__file__, "__exit__")


def _abort(comm, error: BaseException, report: str = "", line: str = "") -> None:
    """``report`` (Python's report of ``error``, or nothing) and one line naming this rank and
    the error (``line``, else :func:`describe`'s) on stderr, then ``Abort`` every rank with the
    error's :func:`exit_code`."""
    code = exit_code(error)
    _say(comm, line or describe(error), report)
    time.sleep(_FORWARDED)  # the launcher forwards the lines before Abort tears it down
    comm.Abort(code)
    os._exit(code)  # MPICH's Abort may return before the launcher ends this process


def _deferral() -> float:
    """Seconds a rank other than 0 waits before reporting a one-line mistake: :data:`_DEFERRED`,
    at most half a stall shutdown that is set (rank 0, waiting for this rank to start the same
    call, would end the job first, this rank's line unsaid)."""
    try:
        shutdown = _seconds(STALL_SHUTDOWN, 0.0)
    except DistributedError:  # a bad setting: its own error comes where the setting is read
        shutdown = 0.0
    return min(_DEFERRED, shutdown / 2) if shutdown else _DEFERRED


def _seconds(variable: str, default: float) -> float:
    """The environment ``variable`` as seconds (``default`` when unset or empty); a
    DistributedError naming it when it is not a number >= 0."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise DistributedError(f"{variable}: expected seconds (a number >= 0), got {text!r}")
    return seconds


def rendezvous(comm, what: str) -> None:
    """Return once every rank of ``comm`` has called this (:func:`barrier`) for the same
    ``what`` (what the ranks are starting, also for the stall line; see the module doc for it
    and the shutdown).  Ranks starting different calls (one in ``evaluate`` while another went
    on to the next ``fit``) meet here too, so they compare ``what`` before going on: a
    DistributedError naming the first rank that differs from rank 0, on every rank (the calls'
    next collectives would not match: a silent hang)."""
    warn_after, shutdown_after = _seconds(STALL_WARNING, 60.0), _seconds(STALL_SHUTDOWN, 0.0)
    warned = False
    for waited in _waiting(comm):
        if shutdown_after and waited >= shutdown_after:
            raise DistributedError(
                f"{_stalled(what, waited)}; {STALL_SHUTDOWN}={shutdown_after:g}: ending the job"
            )
        if not warned and waited >= warn_after:
            _say(comm, f"{_stalled(what, waited)}; still waiting ({STALL_SHUTDOWN}=<seconds> "
                       "ends the job)")  # fmt: skip
            warned = True
    everyone = comm.allgather(what)
    other = next((rank for rank, theirs in enumerate(everyone) if theirs != everyone[0]), None)
    if other is not None:
        raise DistributedError(
            f"rank 0 starts {everyone[0]} where rank {other} starts {everyone[other]}: every "
            "rank must make the same distributed calls in the same order"
        )


class Handshake:
    """How the argument checks of one distributed call (``fit``'s, ``evaluate``'s) went on
    every rank, told to every rank before the call's first collective that a failing rank would
    leave the others waiting in: after :func:`rendezvous` (and the collectives every rank makes
    whatever its arguments), :meth:`open`; then each rank runs the checks and says "ok"
    (:meth:`agree`) or, from :func:`abort_on_error` (``passes``), the error's line
    (:meth:`failed_alike`), in one ``allgather`` that every rank reaches, failing or not.
    Every rank failed with the same line (``batch_size=0`` everywhere): each raises its own
    error as one process does, and a script may catch it.  Some failed: they abort as ever,
    the others go on to the call's next collective, where that abort ends them.  Errors before
    :meth:`open` (the rendezvous's) or after the exchange (training's: the others may be in a
    collective), and Ctrl-C, ``MemoryError`` or ``sys.exit``, abort."""

    def __init__(self, comm):
        self.comm, self.pending = comm, False

    def open(self) -> None:
        """The ranks met: errors from here to the exchange are told to every rank."""
        self.pending = True

    def agree(self) -> None:
        """This rank's checks passed: say so (whether another's failed, its abort will say)."""
        self._exchange(None)

    def failed_alike(self, error: BaseException) -> bool:
        """Say this rank's ``error`` (while the exchange is pending, for an ``Exception`` but
        ``MemoryError``); whether every rank failed with the same type and line (less
        addresses, :func:`without_addresses`: ``metrics=[my_acc]``'s repr differs by rank)."""
        if not self.pending or not isinstance(error, Exception) or isinstance(error, MemoryError):
            return False
        kind = type(error)
        said = (f"{kind.__module__}.{kind.__qualname__}", without_addresses(describe(error)))
        alike = set(self._exchange(said)) == {said}
        setattr(error, _ALIKE, alike and self.comm.Get_rank() != 0)  # left uncaught: rank 0
        return alike

    def _exchange(self, said: tuple[str, str] | None) -> list:
        self.pending = False
        return self.comm.allgather(said)


def barrier(comm) -> None:
    """Return once every rank of ``comm`` has called this, sleeping while it waits (MPI's own
    ``Barrier`` spins a core: a rank waiting minutes for another's download would take it)."""
    for _ in _waiting(comm):
        pass


def _waiting(comm) -> Iterator[float]:
    """A nonblocking barrier of ``comm``, looked at every 0.1-50 ms rather than spun on: the
    seconds waited so far at each look until every rank has entered it."""
    request, started, pause = comm.Ibarrier(), time.monotonic(), _POLL[0]
    while not request.Test():
        yield time.monotonic() - started
        time.sleep(pause)
        pause = min(2 * pause, _POLL[1])


def _stalled(what: str, waited: float) -> str:
    return (
        f"waited {waited:.0f} s at the start of {what} for the other ranks: every rank must make "
        f"the same {what} calls (one whose script ended, exited or passed distributed=False "
        "leaves the others waiting)"
    )


def check_same(
    comm,
    mine: dict,
    what: str = "fit",
    must: str = "build the same model and optimiser and pass the same options and data",
) -> None:
    """DistributedError on rank 0 naming the first rank whose ``mine`` differs from rank 0's
    (in the call ``what``, where every rank ``must`` ...) and the first differing key; the other
    ranks go on to the next collective, where rank 0's abort ends them."""
    mine = json.loads(json.dumps(mine, default=str))  # what is compared: plain values
    everyone = comm.allgather(mine)
    if comm.Get_rank():
        return
    for rank, theirs in enumerate(everyone[1:], start=1):
        difference = first_difference(everyone[0], theirs, here="on rank 0")
        if difference:
            raise DistributedError(
                f"rank {rank} runs another {what} than rank 0: {difference} (every rank must "
                f"{must})"
            )
