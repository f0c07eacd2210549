"""What the example scripts share: the options every one takes, and how results are printed.

Each script builds its parser with :func:`parser` (``--seed``, ``--epochs``, ``--json``,
``--quiet``), adds its own options, and ends with :func:`finish`, which prints the results as
one JSON line (``--json``, what ``tests/test_examples.py`` reads) or as one summary line.
"""

from __future__ import annotations

import argparse
import json
import time

from nudgenet.cli.common import positive_int  # the nudgenet command's "a whole number >= 1"


def parser(
    doc: str, seed: str, epochs: int, *, epochs_help: str | None = None, aliases: tuple = ()
) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--seed`` (what it seeds:
    ``seed``), ``--epochs`` (default ``epochs``; other names in ``aliases``), ``--json`` and
    ``--quiet``."""
    options = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    options.add_argument("--seed", type=int, default=0, help=seed)
    options.add_argument("--epochs", *aliases, type=positive_int, default=epochs, help=epochs_help)
    options.add_argument("--json", action="store_true", help="print the results as JSON, last")
    options.add_argument("--quiet", action="store_true", help="no progress lines")
    return options


def verbosity(args: argparse.Namespace) -> int:
    """``fit``'s ``verbose``: a line per epoch, unless ``--quiet`` or ``--json``."""
    return 0 if args.quiet or args.json else 2


def seconds_since(started: float) -> float:
    """Seconds since ``started`` (a ``time.perf_counter()`` reading), to the millisecond."""
    return round(time.perf_counter() - started, 3)


def finish(result: dict, args: argparse.Namespace, started: float, summary: str) -> dict:
    """Add the run's ``seconds`` to ``result``, print it as one JSON line (``--json``) or print
    ``summary``, and return it."""
    result["seconds"] = seconds_since(started)
    print(json.dumps(result) if args.json else summary)
    return result
