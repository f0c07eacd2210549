"""``History``: what :func:`nudgenet.fit` measured, epoch by epoch, and why training stopped."""

from __future__ import annotations


class History:
    """What ``fit`` measured: ``history.history`` maps each metric (``loss``, ``val_loss``,
    ``accuracy``, ``val_accuracy``, ``lr``, ``seconds``, ...) to its per-epoch list, the epoch's
    logs once every callback ran; ``history.epoch`` lists the epochs run (from 0).

    ``stop_reason`` says why training ended: ``"completed"`` (every epoch ran),
    ``"early_stopping"`` (an :class:`~nudgenet.EarlyStopping` stopped it), ``"diverged"`` (the
    training loss became NaN or infinite) or ``"stopped"`` (another callback set
    ``stop_training``); ``stopped_epoch`` is then the last epoch run (from 0), and None when
    training completed.  ``stop_message``: for a batch whose loss was not finite, one line naming
    its epoch, step and cause (inputs not finite, the first layer that overflowed, ...), or None."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stop_reason = "completed"
        self.stopped_epoch: int | None = None
        self.stop_message: str | None = None  # where a non-finite batch stopped training

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict:
        """``{"epoch": [...], <metric>: [...], ...}``: every per-epoch series, nothing else
        (``stop_reason`` and ``stopped_epoch`` are attributes), so each value can be plotted."""
        return {"epoch": list(self.epoch), **{k: list(v) for k, v in self.history.items()}}

    def __repr__(self) -> str:
        return (
            f"History(epochs={len(self)}, metrics={list(self.history)}, "
            f"stop_reason={self.stop_reason!r}, stopped_epoch={self.stopped_epoch})"
        )
