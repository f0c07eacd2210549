"""Argument types for the benchmark scripts' command lines: a bad value is argparse's one-line
error before any work starts, not a traceback after minutes of it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path


def positive_int(text: str) -> int:
    """An integer >= 1 (rounds, repeats, seeds, epochs, rows)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def output_file(text: str) -> Path:
    """A file the results can be written to at the end: its folder exists and is writable, and
    it is not a folder itself (checked now, so a long run does not end in an error)."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file path, got the folder {text!r}")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: the folder {str(folder)!r} is not writable")
    return path


def names_from(allowed: Iterable[str]) -> Callable[[str], list[str]]:
    """A comma-separated list of names, each one of ``allowed`` (order kept)."""
    allowed = list(allowed)

    def names(text: str) -> list[str]:
        given = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in given if name not in allowed]
        if unknown or not given:
            raise argparse.ArgumentTypeError(
                f"expected names from {', '.join(allowed)} separated by commas, got {text!r}"
            )
        return given

    return names
