"""The model file ``nudgenet train`` writes: checked before training, and replaced only by a run
that scores at least as well on the same held-out rows (a tie: by the held-out loss,
:meth:`~nudgenet.recipes.TrainingRecord.beats`), or with ``--overwrite``; and its other
outputs (figures, logs, checkpoints), checked before training too (:func:`check_outputs`).

Before training (fail fast): the path must be writable, and a file already there must be a
nudgenet model whose :class:`~nudgenet.recipes.TrainingRecord` holds a score this run can be
compared with (same held-out rows, same metric); anything else is kept, with a one-line error,
unless ``--overwrite``.  After training, the file is read again (another run may have saved
there meanwhile), with the output's folder locked until the model is saved (two runs ending at
once compare and save one after the other): a run scoring worse than the model there is not
saved (one line says so; exit code :data:`KEPT_BETTER_MODEL`), one that replaces it says so, with
both models' scores; a file there that it cannot be compared with any more is kept, and the
run's model saved beside it (one line says where).  Writes are atomic (:func:`nudgenet.save`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import ModelFileError, NudgenetError
from ..files import may_write
from ..io import read_metadata, save
from ..recipes import DATASETS
from ..recipes.record import SCORES, TrainingRecord
from .common import UsageError, format_figure

KEPT_BETTER_MODEL = 4  # `train`'s exit code when the file at --output is kept (it did better)

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
    ``"model.safetensors"``), a file where a folder should be, a folder where no file can be
    made (no permission, a read-only file system)."""
    if path.is_dir():
        raise NudgenetError(
            f"{option} {path} is a folder; expected {kind} path such as {path / example}"
        )
    _check_folder(path.parent, path, option)


def starts_as(path: Path, pattern: re.Pattern, option: str, error=NudgenetError) -> bool:
    """Whether the existing file ``path`` (the value of ``option``) is empty (nothing to lose)
    or its first bytes match ``pattern``: a file the command may replace.  Only its start is
    read (a large file given by mistake is not read whole); one that cannot be read is an
    ``error``."""
    try:
        with open(path, "rb") as f:
            start = f.read(16)
    except OSError as e:
        raise error(f"{option} {path} cannot be read to tell what it holds ({e.strerror}); name "
                    "another file") from None  # fmt: skip
    return not start or pattern.match(start) is not None


def unused_name(path: Path, tag: str, suffix: str) -> Path:
    """Another name for a refused output ``path``, beside it: ``<stem>-<tag><suffix>``, or with
    ``-2``, ``-3``, ... after the tag, the first that no file or folder has."""
    names = (path.with_name(f"{path.stem}-{tag}{f'-{n}' if n > 1 else ''}{suffix}")
             for n in itertools.count(1))  # fmt: skip
    return next(name for name in names if not name.exists())


def check_writable_folder(path: Path, option: str) -> None:
    """Fail when ``path`` (the value of ``option``) cannot be a folder to write files into: a
    file there, or a folder (or the nearest one above it, where it is to be made) where no file
    can be made."""
    if path.exists() and not path.is_dir():
        raise NudgenetError(f"{option} {path} is a file; expected a folder (made if missing)")
    _check_folder(path, path, option)


def _check_folder(folder: Path, path: Path, option: str) -> None:
    """The folder ``folder``, or the nearest one above it that exists (missing folders are made
    when written), must take a new file: one is made there and removed."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NudgenetError(f"{option} {path}: {folder} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise NudgenetError(
            f"{option} {path}: cannot write in {folder} ({error.strerror or error})"
        ) from None


def gradients_figure(curves: Path) -> Path:
    """The gradient norms' figure ``--plot`` writes beside its curves: ``<stem>-gradients``
    (``--plot`` has a suffix: :func:`~.common.figure_path`)."""
    return curves.with_name(f"{curves.stem}-gradients{curves.suffix}")


def check_distinct(args, output: Path) -> None:
    """Before anything runs: the files and folders ``nudgenet train`` writes (the model at
    ``output``, ``--plot`` and its gradients figure, ``--log-csv``, ``--checkpoint``,
    ``--tensorboard``) are different paths, and none is a file it reads (``--dataset``,
    ``--labels``) (:func:`refuse_same_paths`)."""
    named = data_files(args.dataset, args.labels)
    named.append(("--output" if args.output else "the model (the default --output)", output))
    if args.plot:
        named += [("--plot", Path(args.plot)), ("--plot's gradients figure",
                                                gradients_figure(Path(args.plot)))]  # fmt: skip
    for option, value in (("--log-csv", args.log_csv), ("--checkpoint", args.checkpoint),
                          ("--tensorboard", args.tensorboard)):  # fmt: skip
        if value:
            named.append((option, Path(value)))
    refuse_same_paths(named)


def data_files(dataset, labels, names=("--dataset", "--labels")) -> list[tuple[str, Path]]:
    """The files a command reads its rows from that exist (what is not there is not replaced:
    its reader says so), by ``names``: ``dataset`` and ``labels`` where they are files, not
    bundled data sets."""
    given = zip(names, (dataset, labels))
    return [(name, Path(value)) for name, value in given
            if value and value not in DATASETS and os.path.exists(value)]  # fmt: skip  (an
    # unreadable or too long name is False here: its reader then says why, naming the file)


def refuse_same_paths(named: list[tuple[str, Path]]) -> None:
    """A UsageError where two of the ``(option, path)`` pairs, files a command writes after the
    files it reads (:data:`READS`), name one path: one output would replace the other's (a
    model by a figure), or the data or model the command reads."""
    seen: dict[Path, str] = {}
    for option, path in named:
        first = seen.setdefault(path.resolve(), option)
        if first != option:
            read = "model" if first == MODEL_FILE else "data"
            clash = f"{option} would replace the {read} it reads" if first in READS else (
                "each writes its own")  # fmt: skip
            raise UsageError(f"{first} and {option} name the same path, {path}; {clash}: name "
                             "another for one of them")  # fmt: skip


MODEL_FILE = "the model file"  # (explain's first argument)
MODEL_DATA = ("the model's data set", "the model's labels file")  # its record's, not given
READS = ("--dataset", "--labels", MODEL_FILE, *MODEL_DATA)  # the files a command reads


def check_outputs(args) -> None:
    """Before training: every file and folder ``nudgenet train`` writes besides the model
    (``--plot`` and its gradients figure beside it, ``--log-csv``, ``--tensorboard``,
    ``--checkpoint``) can be written, so a run does not fail after its training."""
    if args.plot:
        check_writable(args.plot, "--plot", "a figure", "curves.png")
    if args.log_csv:
        check_writable(args.log_csv, "--log-csv", "a CSV file", "log.csv")
    if args.tensorboard:
        check_writable_folder(Path(args.tensorboard), "--tensorboard")
    # a run's checkpoint folder is fit's to judge: a finished run resumes from a read-only one
    if args.checkpoint and not Path(args.checkpoint).is_dir():
        check_writable_folder(Path(args.checkpoint), "--checkpoint")


def check_comparable(path: Path, record: TrainingRecord, existing: TrainingRecord | None):
    """Fail before training unless the model at ``path`` (its record ``existing``; None: none
    to keep) can be compared with this run (``record``) once it is scored."""
    why = None if existing is None else record.not_comparable(existing)
    if why:
        raise NudgenetError(
            f"--output {path} holds a model this run cannot be compared with ({why}); {_CHOICES}"
        )


class Saved(NamedTuple):
    """Where :func:`save_unless_worse` saved the model, and the record of the scored model it
    replaced there (None: none compared, a new file or ``--overwrite``)."""

    path: Path
    replaced: TrainingRecord | None = None


def save_unless_worse(model, path: Path, record: TrainingRecord, overwrite: bool) -> Saved | None:
    """Save ``model`` with its scored ``record`` at ``path`` (replacing whatever is there when
    ``overwrite``), unless the model there now did better (:meth:`TrainingRecord.beats`: its
    held-out score; a tie, its held-out loss): then one line on stderr says so and nothing is
    written.  A file there now that cannot be compared with this run (saved there during
    training: not a nudgenet model, or one scored on other rows) is kept, and the model saved
    beside it (:func:`unused_name`), one line saying where.  Where the model was saved and the
    record of the one it replaced (:class:`Saved`), None where it was not saved (on a
    data-parallel rank other than 0, which writes nothing: ``path``, where rank 0 saves it)."""
    if not may_write():
        return Saved(path)
    with _locked(path.parent):
        why, existing = None, None
        if not overwrite and path.exists():
            try:
                existing = TrainingRecord.from_dict(read_metadata(path))
                why = record.not_comparable(existing)
            except ModelFileError:
                why = "it is no nudgenet model"
        if why:
            beside = unused_name(path, "new", path.suffix or ".safetensors")
            print(f"nudgenet: {path} changed during training and this run cannot be compared "
                  f"with it ({why}): kept it; this run's model is saved to {beside}",
                  file=sys.stderr)  # fmt: skip
            path, existing = beside, None
        elif existing is not None and existing.beats(record):
            print(f"nudgenet: kept {path}: its held-out {_better(existing, record)}; this run's "
                  "model is not saved (--overwrite replaces it)", file=sys.stderr)  # fmt: skip
            return None
        save(model, path, record.to_dict())
    return Saved(path, existing)


def _better(better: TrainingRecord, worse: TrainingRecord) -> str:
    """Why ``better``'s held-out result beats ``worse``'s (:meth:`TrainingRecord.beats`), the
    numbers to as many digits as tell them apart: ``accuracy 0.98 beats this run's 0.97``, or,
    the scores tied, ``accuracy 0.98 ties this run's, and its loss 0.07 beats this run's 0.19``."""
    metric = SCORES[better.task]
    if not better.ties(worse):
        return "{} {} beats this run's {}".format(metric, *_apart(better.score, worse.score))
    loss = "its loss {} beats this run's {}".format(*_apart(better.held_out_loss,
                                                             worse.held_out_loss))  # fmt: skip
    return f"{metric} {better.score:.4g} ties this run's, and {loss}"


def scores_text(record: TrainingRecord) -> str:
    """A scored record's held-out score and loss for a line of text, as ``train`` prints its
    own: ``accuracy 0.9833, loss 0.0750`` (no loss: a file written before it was recorded)."""
    text = f"{SCORES[record.task]} {format_figure(record.score)}"
    loss = record.held_out_loss
    return text if loss is None else f"{text}, loss {format_figure(loss)}"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (made if missing) while the block runs, so that another
    run's compare and save on this machine waits for this one's; where the folder cannot be
    locked (no ``flock``: Windows, some network file systems; a folder this process may write in
    but not read), the block runs unlocked, as before the lock: a trained model is not lost to
    it."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    folder.mkdir(parents=True, exist_ok=True)  # (save would make it too)
    handle = None
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)  # (releases the lock)


def _apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` to 4 significant digits, or to as many more as tell them apart."""
    for digits in range(4, 18):
        shown = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return shown
