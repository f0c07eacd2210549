"""The one rule both log writers share: an epoch's logs are written once every callback has
run, so they hold what the History holds."""

from __future__ import annotations

from ..callbacks import Callback
from ..files import may_write


class EpochLogWriter(Callback):
    """Writes each epoch's logs with :meth:`write_epoch` once the epoch's last callback has run:
    at the next ``on_epoch_begin`` or at ``on_train_end``.  ``fit`` hands every callback the same
    ``logs`` dict and the History records it after them all, so an entry that a callback after
    this one adds (or changes) is written too, and the values written are the History's.
    Nothing is written where :func:`~nudgenet.files.may_write` is False."""

    records_only = True  # a log: a checkpoint's run is the same with it or without it
    _pending: tuple[int, dict] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Forget an epoch a run ended by an exception left unwritten: it is not this run's; and
        close what that run left open (its events in the files, this run's in new ones)."""
        self._pending = None
        self.close()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._pending = (epoch, logs if logs is not None else {})

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._write_pending()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._write_pending()
        self.close()

    def state_dict(self) -> dict:
        """What a checkpoint saves, once the epochs it records as done are written and in the
        file (:meth:`flush`): the log then holds what the checkpoint holds, whatever ends the
        run after it (``kill -9`` too), and a run resumed from it writes the epochs after."""
        self._write_pending()
        self.flush()
        return super().state_dict()

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and may_write():
            self.write_epoch(*pending)

    def write_epoch(self, epoch: int, logs: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> None:
        """Put what was written in the file now (each write does, here)."""

    def close(self) -> None:
        """Release what the writer holds open (nothing here)."""
