"""``CSVLogger``: one row per epoch in a CSV file, Keras's name, arguments and format."""

from __future__ import annotations

import csv
import io
import os
from numbers import Integral, Real
from pathlib import Path

from ..files import may_write, write_atomic
from .epochs import EpochLogWriter


class CSVLogger(EpochLogWriter):
    """Write each epoch's logs to the CSV file ``filename``: a header ``epoch,<keys sorted>``
    (the first epoch's keys: ``accuracy,loss,lr,seconds,val_accuracy,val_loss``, ...), then one
    row per epoch, the epoch counted from 0 (Keras's format).  A key an epoch lacks is written
    ``NA``; a key no column holds yet (a later epoch's, or one missing from the file appended
    to) gets a column at the end, ``NA`` in the rows before, so every value stays under its own
    name; numbers are written so that they read back exactly (Python's ``repr`` of the float).
    ``append=True`` continues an existing file (its columns kept; a new or empty file gets a
    header), for instance across ``fit`` calls; else the file is started afresh when training
    begins.
    ``separator`` separates the columns.

    Every write replaces the whole file atomically (:func:`~nudgenet.files.write_atomic`), so a
    reader never sees half a row; nothing is written where :func:`~nudgenet.files.may_write`
    is False.  A :class:`~nudgenet.Checkpoint` saves the file's text with the run, so a run
    resumed from it rewrites the file as it stood then and goes on: one row per epoch of the
    History, whatever rows the killed run wrote after its checkpoint.

    >>> import numpy as np, nudgenet as ng, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> model = ng.Sequential(ng.Linear(2, 1, seed=0))
    >>> x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    >>> _ = ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
    ...            epochs=2, verbose=0, callbacks=[ng.CSVLogger(path)])
    >>> path.read_text().splitlines()[0]
    'epoch,loss,lr,seconds'
    """

    writes_parameters = False  # writes logs only (may_write_parameters)

    _state = ("keys", "_text", "_pending")  # what a checkpoint saves (see Callback.state_dict)

    def __init__(self, filename, separator: str = ",", append: bool = False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.filename, self.sep, self.append = Path(os.fspath(filename)), separator, append
        self.keys: list[str] | None = None
        self._text = ""

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.keys, self._text = None, ""
        if self.append and self.filename.is_file():
            self._text = self.filename.read_text(encoding="utf-8")
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"
        elif may_write():
            write_atomic(self.filename, b"")  # started afresh, as Keras opens it with "w"

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint's state, and the file as it stood then where ``on_train_begin`` started
        it afresh (a finished run resumed would leave it empty; one appended to is kept)."""
        super().load_state_dict(state)
        if may_write() and not self.append:
            write_atomic(self.filename, self._text.encode("utf-8"))

    def write_epoch(self, epoch: int, logs: dict) -> None:
        if self.keys is None:  # the columns of the file appended to, else this epoch's keys
            self.keys = self._rows()[0][1:] if self._text.strip() else sorted(logs)
        added = sorted(set(logs).difference(self.keys))
        if added or not self._text.strip():  # the header (again): new columns, NA before
            rows = [row + ["NA"] * len(added) for row in self._rows()[1:]]
            self.keys += added
            self._text = self._lines([["epoch", *self.keys], *rows])
        self._text += self._lines([[epoch, *(_cell(logs.get(key, "NA")) for key in self.keys)]])
        write_atomic(self.filename, self._text.encode("utf-8"))

    def _rows(self) -> list[list[str]]:
        """The rows of the file's text so far (the header first), blank lines left out."""
        return [row for row in csv.reader(io.StringIO(self._text), delimiter=self.sep) if row]

    def _lines(self, rows) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self.sep, lineterminator="\n").writerows(rows)
        return out.getvalue()


def _cell(value) -> str:
    """A value as written: a whole number as it is, another number as the repr of its float
    (which ``float`` reads back exactly, ``nan`` and ``inf`` included), anything else as text."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, Real) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)
