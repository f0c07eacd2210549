"""The ``nudgenet`` command: ``train``, ``evaluate``, ``predict``, ``explain``, ``gradcheck``,
``export``.

User mistakes (a missing file, a corrupt archive, a wrong feature count, an unknown option) end
with one line on stderr and a non-zero exit code, never a traceback: 2 for a usage mistake (an
unknown option, a bad option value, refused by the argument types of :mod:`.common`, or options
that contradict each other, a :class:`~.common.UsageError`), 1 otherwise; so do running out of
memory (exit 1) and Ctrl-C (exit 130, as shells report SIGINT).  A library's UserWarning is a
one-line note on stderr (``nudgenet: note: ...``).  Every command takes ``--json``
(the last line of stdout is one JSON object with the results) and ``-q/--quiet`` (nothing
informational on stderr).  Each subcommand lives in its own module, with
``register(commands)`` adding its parser and ``run(args)`` doing the work.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings
from typing import NoReturn

from .._version import __version__
from ..distributed.launch import launcher
from . import evaluate, explain, export, gradcheck, predict, train
from .common import USER_ERRORS, UsageError, warning_notes
from .gradcheck import GRADIENT_MISMATCH
from .mpi import answer_once, through_mpi

__all__ = ["GRADIENT_MISMATCH", "build_parser", "main"]


# options users guess, by the option a command has for it (its dest) and what to say instead
GUESSES = {"--resume": ("checkpoint", "to resume a run, pass its folder: --checkpoint DIR")}


class _OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing at ``--help`` (exit code 2).
    Under an MPI launcher of several processes, through MPI (:func:`~.mpi.through_mpi`): the
    line of rank 0, when every rank makes the mistake, not one line per rank; a rank whose
    mistake is its own (``mpiexec -n 1 nudgenet train ... : -n 1 nudgenet evaluate ...``) says
    its own and ends the job.  So do ``--help`` and ``--version`` (:func:`~.mpi.answer_once`):
    said once, by rank 0, where every rank asked; ending the job where some run a command."""

    def error(self, message: str) -> NoReturn:
        said = f"{message} (see {self.prog} --help)"
        found = launcher()
        if found is not None and found[1] != 1:  # (a variable holding only a rank: several)
            with contextlib.suppress(UsageError):  # raised again where MPI cannot be joined
                through_mpi(UsageError(said), self.prog)
        self.exit(2, f"{self.prog}: error: {said}\n")

    def parse_args(self, args=None, namespace=None):
        """argparse's, but arguments no parser knows are the command's error (``nudgenet train:
        ... (see nudgenet train --help)``, not the top level's), with a hint for a likely
        guess (:data:`GUESSES`) where the command has the option meant; ``--help``'s and
        ``--version``'s text said through :func:`~.mpi.answer_once`."""
        answer = io.StringIO()
        try:
            with contextlib.redirect_stdout(answer):
                parsed, unknown = self.parse_known_args(args, namespace)
        except SystemExit as leaving:
            if leaving.code == 0:  # argparse's exit after --help's or --version's text
                asked = [self.prog, *(sys.argv[1:] if args is None else args)]
                answer_once(answer.getvalue(), " ".join(asked))
            raise
        if unknown:
            parser = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            given = {argument.split("=")[0] for argument in unknown}  # (--resume=ck too)
            hints = [f"; {hint}" for option, (dest, hint) in GUESSES.items()
                     if option in given and hasattr(parsed, dest)]  # fmt: skip
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{''.join(hints)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="nudgenet", description="Train, evaluate and use feed-forward networks."
    )
    parser.add_argument("--version", action="version", version=f"nudgenet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (train, evaluate, predict, explain, gradcheck, export):
        command.register(commands)
    parser.commands = commands.choices  # each command's parser, by name: its own usage errors
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = warning_notes(args)  # (catch_warnings restores it)
            return args.run(args)
    except BrokenPipeError:  # the reader went away (`nudgenet predict ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"nudgenet {args.command}: interrupted", file=sys.stderr)
        return 130
    except UsageError as error:
        message = f"{error} (see nudgenet {args.command} --help)"
        print(f"nudgenet {args.command}: error: {message}", file=sys.stderr)
        return error.exit_code
    except MemoryError as error:
        message = f"out of memory{f' ({error})' if str(error) else ''}"
        print(f"nudgenet {args.command}: error: {message}", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        text = error.args[0] if isinstance(error, KeyError) and error.args else error
        message = str(text) or type(error).__name__
        print(f"nudgenet {args.command}: error: {message}", file=sys.stderr)
        return 1
