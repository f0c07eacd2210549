"""The model file ``nudgenet train`` writes: checked before training, and replaced only by a run
that scores at least as well on the same held-out rows, or with ``--overwrite``.

Before training (fail fast): the path must be writable, and a file already there must be a
nudgenet model whose :class:`~nudgenet.recipes.TrainingRecord` holds a score this run can be
compared with (same held-out rows, same metric); anything else is kept, with a one-line error,
unless ``--overwrite``.  After training: a run scoring worse than that model is not saved (one
line says so; exit code :data:`KEPT_BETTER_MODEL`).  Writes are atomic (:func:`nudgenet.save`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import ModelFileError, NudgenetError
from ..files import may_write
from ..io import read_metadata, save
from ..recipes.record import SCORES, TrainingRecord

KEPT_BETTER_MODEL = 4  # exit code of `train` when the model already at --output scored better

_CHOICES = "pass --overwrite to replace it, or choose another --output"


def check_output(path: Path, overwrite: bool) -> TrainingRecord | None:
    """Fail before training when no model file can be written at ``path`` (missing folders are
    created when it is saved), or when a file there is not a nudgenet model (unless
    ``overwrite``).  The record of the nudgenet model at ``path``, or None (no file, or
    ``overwrite``)."""
    check_writable(path, "--output", "a model file", "model.safetensors")
    if overwrite or not path.exists():
        return None
    try:
        metadata = read_metadata(path)
    except ModelFileError:
        raise NudgenetError(
            f"--output {path} exists and is not a nudgenet model; {_CHOICES}"
        ) from None
    return TrainingRecord.from_dict(metadata)


def check_writable(path: Path, option: str, kind: str, example: str) -> None:
    """Fail when no file can be written at ``path`` (the value of ``option``): a folder there
    (``kind`` and ``example`` name what was expected: ``"a model file"``,
    ``"model.safetensors"``), a file where a folder should be, no permission to write."""
    if path.is_dir():
        raise NudgenetError(
            f"{option} {path} is a folder; expected {kind} path such as {path / example}"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NudgenetError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NudgenetError(f"{option} {path}: no permission to write in {folder}")


def check_comparable(path: Path, record: TrainingRecord, existing: TrainingRecord | None):
    """Fail before training unless the model at ``path`` (its record ``existing``; None: none
    to keep) can be compared with this run (``record``) once it is scored."""
    why = None if existing is None else record.not_comparable(existing)
    if why:
        raise NudgenetError(
            f"--output {path} holds a model this run cannot be compared with ({why}); {_CHOICES}"
        )


def save_unless_worse(model, path: Path, record: TrainingRecord, existing) -> bool:
    """Save ``model`` with its scored ``record`` at ``path``, unless the model there (its record
    ``existing``) scored better: then one line on stderr says so and nothing is written.
    Whether the model was saved (on a data-parallel rank other than 0, which writes nothing:
    True, as rank 0 saves it)."""
    if not may_write():
        return True
    if existing is not None and existing.beats(record):
        metric = SCORES[record.task]
        theirs, ours = _apart(existing.score, record.score)
        print(
            f"nudgenet: kept {path}: its held-out {metric} {theirs} beats this run's {ours}; "
            "this run's model is not saved (--overwrite replaces it)",
            file=sys.stderr,
        )
        return False
    save(model, path, record.to_dict())
    return True


def _apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` to 4 significant digits, or to as many more as tell them apart."""
    for digits in range(4, 18):
        shown = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return shown
