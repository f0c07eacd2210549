"""Checkpoints: training that survives being killed, and resumes bit for bit.

``fit(..., checkpoint=Checkpoint(directory))`` writes the run's whole state (see
:mod:`nudgenet.run_state`) to ``directory`` every ``every_epochs`` epochs and/or every
``every_steps`` optimiser steps, and at the end of training; calling the same ``fit`` again with
the same directory resumes from the newest checkpoint (one line says where: epoch and step), and
ends with parameters, optimiser state and History (but its ``seconds``) identical, bit for bit,
to a run never interrupted (on as many data-parallel ranks as saved it, with Dropout only where
every batch split evenly among them; on another number of ranks, to rounding: the ranks' shares
of a batch, and so the order of the sums, change; with Dropout it is another run).

One design, not Keras's pair ``BackupAndRestore`` + ``ModelCheckpoint``: Keras's backup resumes
at epoch boundaries and restores no random state, while nudgenet's shuffles are a pure function
of the seed's generator, so a checkpoint can be taken mid-epoch and the run resumed exactly; the
best model of a run is kept by :class:`~nudgenet.EarlyStopping` (``restore_best``) and saved with
:func:`nudgenet.save`.

Files: ``checkpoint-<epoch>-<step>.safetensors``, one per checkpoint, each written atomically
(temporary file, fsync, rename, then the folder fsynced): arrays as safetensors tensors, the rest
as JSON in the header, with a SHA-256 of both; no pickle.  The newest ``keep`` are kept.  A newest
checkpoint that is corrupt or truncated is skipped with a warning for the one before it.  From
the start of ``fit`` to its end the run holds the folder (an advisory lock, ``flock``, on its
``.checkpoint.lock``, or on the folder itself where this process cannot write it; it dies with
the process; none where the system or file system has no such locks, Windows say): a second
run there at the same time is a :class:`~nudgenet.errors.CheckpointError` naming the folder,
before it touches a file.  A checkpoint of another run (architecture, parameters' shapes,
optimiser and its settings, the learning rate the run started with, callbacks, data shapes or
contents, batch size, seed) is refused with a :class:`~nudgenet.errors.CheckpointError` naming
the difference, other data first (the shape or contents of ``x``, ``y``, ...: what a run on
another data set differs by, before the settings fitted to it); ``restart=True`` (``nudgenet
train --restart``) deletes the folder's checkpoints and starts over.  A state with non-finite
parameters is never written, so a run that diverges keeps its last good checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import warnings
import weakref
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so the folder is not held
    fcntl = None

import numpy as np
from safetensors import numpy as st

from .checkpoint_callbacks import as_written_now, reordered, saved_places
from .checkpoint_match import check_same_run
from .errors import CheckpointError, caller_stacklevel
from .files import may_write, sorted_header, write_atomic
from .run_state import Position, Run, decode, encode

FORMAT = "nudgenet-checkpoint"
FORMAT_VERSION = "1"
LOCK = ".checkpoint.lock"  # in the folder: locked while a run trains there
_NAME = re.compile(r"checkpoint-(\d+)-(\d+)\.safetensors")
# per optimiser, the last fit in this process that held a checkpoint folder with it: the folder,
# the learning rate its fingerprint named, and the rate that fit left the optimiser at
_LEFT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _every(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Checkpoint: {name} must be a whole number >= 1 or None, got {value!r}")
    return value


def check_checkpoint(value) -> None:
    """A one-line TypeError unless ``value`` is a :class:`Checkpoint` or None (a folder's path,
    as Keras's ``ModelCheckpoint`` takes, is not: how often to save is the Checkpoint's)."""
    if value is not None and not isinstance(value, Checkpoint):
        raise TypeError(
            f"fit: checkpoint must be a Checkpoint (ng.Checkpoint(directory)) or None, got "
            f"{value!r}"
        )


class Checkpoint:
    """Where and how often ``fit`` saves the run's state (see the module doc): every
    ``every_epochs`` epochs (None: never at an epoch's end), every ``every_steps`` optimiser
    steps counted over the whole run (None: never mid-epoch), and always when training ends;
    the newest ``keep`` files stay.  ``restart=True`` deletes the folder's checkpoints first."""

    # how the messages say to start over: the argument, or the option (``nudgenet train``'s)
    restart_words = "restart=True"

    def __init__(
        self,
        directory,
        every_epochs: int | None = 1,
        every_steps: int | None = None,
        keep: int = 2,
        restart: bool = False,
    ):
        self.directory = Path(directory)
        self.every_epochs = _every("every_epochs", every_epochs)
        self.every_steps = _every("every_steps", every_steps)
        self.keep = _every("keep", keep)
        if self.keep is None:
            raise ValueError("Checkpoint: keep must be a whole number >= 1, got None")
        self.restart = bool(restart)
        self.fingerprint: dict = {}
        self._held = None  # the locked descriptor (lock file or folder) while this run holds it

    def __repr__(self) -> str:
        return (
            f"Checkpoint({str(self.directory)!r}, every_epochs={self.every_epochs}, "
            f"every_steps={self.every_steps}, keep={self.keep})"
        )

    def files(self) -> list[Path]:
        """The folder's checkpoint files, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [(m, p) for p in self.directory.iterdir() if (m := _NAME.fullmatch(p.name))]
        return [p for m, p in sorted(found, key=lambda mp: (int(mp[0][1]), int(mp[0][2])))]

    def start(self, fingerprint: dict) -> tuple[Path, dict] | None:
        """For a run described by ``fingerprint`` (:func:`fingerprint`): the newest readable
        checkpoint and its state, or None to start over (restart, or none there).  Unreadable
        ones are set aside (renamed ``*.corrupt``) with a warning; one of another run is a
        CheckpointError.  Holds the folder first, until :meth:`release` (a CheckpointError when
        another run holds it)."""
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as compared
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CheckpointError(
                f"checkpoint folder {self.directory}: cannot be made ({error.strerror})"
            ) from None
        self._hold()
        for leftover in self.directory.glob(".checkpoint-*.tmp"):  # a write killed midway
            with contextlib.suppress(OSError):  # (a read-only folder keeps it: it is ignored)
                leftover.unlink()
        if self.restart:
            for path in self.files():
                path.unlink()
        for path in reversed(self.files()):
            try:
                theirs, state = read(path)
            except CheckpointError as error:
                # set aside, not left to outrank the new good ones (with keep=1 it would be the
                # one file pruning keeps, and every later run would start over)
                aside = path.with_suffix(".corrupt")
                try:
                    path.rename(aside)
                    done = f"set aside as {aside.name}"
                except OSError:  # a read-only folder: a run that trains on is refused after
                    done = "left in place (the folder is read-only)"
                warnings.warn(
                    f"{error}; {done}, trying the one before it",
                    UserWarning,
                    stacklevel=caller_stacklevel(),
                )
                continue
            theirs = as_written_now(theirs)
            check_same_run(path, self.fingerprint, theirs, self.restart_words)
            return path, reordered(state, saved_places(self.fingerprint, theirs))
        return None

    def _hold(self) -> None:
        """Lock the folder for this run (module doc), or raise a CheckpointError when another
        run holds it; where it cannot be locked, it is not held."""
        if self._held is not None or fcntl is None:
            return
        try:  # a file: NFS and CIFS lock regular files on the server, folders only locally
            held = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            try:  # a folder this process cannot write: lock the folder itself (to resume)
                held = os.open(self.directory, os.O_RDONLY)
            except OSError:
                return
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(held)
            raise CheckpointError(
                f"checkpoint folder {self.directory} is in use by another run: wait for that "
                "run to end, or give this one another folder"
            ) from None
        except OSError:  # a file system without these locks
            os.close(held)
            return
        self._held = held

    def run_lr(self, optimizer) -> float:
        """The learning rate the fingerprint names for ``optimizer``: its own, unless the last
        fit here with it, in this process, left it at that rate (an LR callback changed it):
        then the rate that fit named, the one its run started with.  Running an interrupted
        ``fit`` again (a notebook's cell after Ctrl-C), or again with more epochs, is so the same
        run, its checkpoint bringing back the rate reached; a rate set by hand in between is
        another run's."""
        folder, named, left = _LEFT.get(optimizer, (None, None, None))
        here = folder == self.directory.resolve() and left == optimizer.lr
        return named if here else optimizer.lr

    def left(self, optimizer, named_lr: float) -> None:
        """Remember, for :meth:`run_lr`, that a fit here whose fingerprint named ``named_lr``
        left ``optimizer`` at its rate now (``fit`` calls this when it ends, however it ends)."""
        _LEFT[optimizer] = (self.directory.resolve(), named_lr, optimizer.lr)

    def release(self) -> None:
        """Let other runs use the folder (``fit`` calls this when it ends, however it ends)."""
        if self._held is not None:
            os.close(self._held)
            self._held = None

    def resume(self, run: Run, found, epochs: int, steps: int, verbose: int):
        """The :class:`~nudgenet.run_state.Position` ``fit`` starts from: the checkpoint
        :meth:`start` ``found``, its state restored into ``run`` (after the callbacks'
        ``on_train_begin``; said in one line unless ``verbose`` is 0), or the start (None).  A
        run of more epochs than ``epochs`` is kept, with a UserWarning saying so."""
        if found is None:
            return Position()
        path, state = found
        at = run.restore(state)
        if at.epoch > epochs:  # (verbose=0 said nothing: the longer run's model came back)
            warnings.warn(f"fit(epochs={epochs}): {path} is of a run trained for {at.epoch} "
                          f"epochs; its model is kept ({self.restart_words} trains {epochs} "
                          "anew)",
                          UserWarning, stacklevel=caller_stacklevel())  # fmt: skip
        if verbose:
            history = run.history
            if at.epoch >= epochs or history.stop_reason != "completed":
                where = f"training had ended after epoch {at.epoch} ({history.stop_reason})"
            else:
                where = f"epoch {at.epoch + 1}, step {at.step} of {steps}"
            print(f"fit: resuming from {path}: {where}", file=sys.stderr)
        return at

    def check_writable(self, epochs: int) -> None:
        """Before training (before any callback starts: a CSV log would be emptied), a
        CheckpointError where this process writes files but cannot write in the folder (or in
        the one above it that would hold it): its first checkpoint would fail after an epoch's
        work.  A finished run (``epochs`` done, or stopped) resumes from a read-only folder:
        it writes nothing there."""
        folder = self.directory
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not may_write() or os.access(folder, os.W_OK):
            return
        if folder == self.directory and not self.restart and self._finished(epochs):
            return
        where = "" if folder == self.directory else f" (it would be made in {folder})"
        raise CheckpointError(
            f"checkpoint folder {self.directory}{where} is read-only: training would fail at its "
            "first checkpoint; make it writable, or pass another folder"
        )

    def _finished(self, epochs: int) -> bool:
        """Whether the folder's newest readable checkpoint is of a run with no training left."""
        for path in reversed(self.files()):
            try:
                _, state = read(path)
            except CheckpointError:
                continue
            position, history = state["position"], state["history"]
            return position["epoch"] >= epochs or history["stop_reason"] != "completed"
        return False

    def due(self, epochs_done: int) -> bool:
        """Whether a checkpoint is due at the end of an epoch, ``epochs_done`` in all."""
        return bool(self.every_epochs) and epochs_done % self.every_epochs == 0

    def save(self, state: dict, epoch: int, step: int) -> Path | None:
        """Write ``state`` as the checkpoint at (``epoch``, ``step``) and drop all but the newest
        ``keep``; nothing (None) when its parameters are not all finite, or when this process
        writes no files (:func:`~nudgenet.files.may_write`: a data-parallel rank other than 0)."""
        params = state["model"].values()
        if not may_write() or not all(np.isfinite(a).all() for a in params if a.dtype.kind == "f"):
            return None
        arrays: dict[str, np.ndarray] = {}
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": json.dumps(self.fingerprint),
            "state": json.dumps(encode(state, arrays)),
        }
        header["sha256"] = _digest(header, arrays)
        path = self.directory / f"checkpoint-{epoch:06d}-{step:07d}.safetensors"
        write_atomic(path, sorted_header(st.save(arrays, metadata=header)))
        _fsync_folder(self.directory)
        for old in self.files()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path


def read(path: Path) -> tuple[dict, dict]:
    """The fingerprint and state of the checkpoint at ``path``; CheckpointError naming the file
    when it is not a whole, unaltered nudgenet checkpoint."""
    try:
        data = path.read_bytes()
        arrays = st.load(data)
        size = int.from_bytes(data[:8], "little")  # safetensors: the header's length, its JSON
        header = json.loads(data[8 : 8 + size])["__metadata__"]
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, not {FORMAT!r}")
        if header.get("sha256") != _digest(header, arrays):
            raise ValueError("its checksum does not match its contents")
        return json.loads(header["fingerprint"]), decode(json.loads(header["state"]), arrays)
    except Exception as error:  # safetensors and json raise their own types for bad bytes
        raise CheckpointError(f"checkpoint {path} is unreadable ({error})") from None


def _digest(header: dict, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in ("format", "format_version", "fingerprint", "state"):
        h.update(header[key].encode())
    for key in sorted(arrays):
        a = arrays[key]
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
