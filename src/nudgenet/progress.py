"""Per-epoch reporting for ``fit``: a tqdm bar on a terminal, one line per epoch elsewhere.

``fit`` reports an epoch's logs after its callbacks ran, so the line shows what they added."""

from __future__ import annotations

import sys


def format_logs(logs: dict) -> str:
    """``loss: 0.1234 - accuracy: 0.9650 - ...``: the epoch's metrics, those callbacks added
    included, but not ``lr``, ``seconds`` or the per-layer ``<kind>/<layer>`` series of
    diagnostics (those go to the History, figures and JSON, not to a line)."""
    return " - ".join(
        f"{k}: {v:.4g}" for k, v in logs.items() if k not in ("lr", "seconds") and "/" not in k
    )


class EpochReporter:
    """Shows training progress.  ``verbose``: 0 silent, 1 a bar when stderr is a terminal and a
    line per epoch otherwise, 2 always a line per epoch."""

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        self.stream = stream or sys.stdout
        self.epochs, self.steps = epochs, steps
        self.lines = verbose == 2 or (verbose == 1 and not sys.stderr.isatty())
        self.bars = verbose == 1 and not self.lines
        self.bar = None

    def begin_epoch(self, epoch: int) -> None:
        if self.bars:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.steps,
                desc=f"Epoch {epoch + 1}/{self.epochs}",
                unit="batch",
                leave=True,
                dynamic_ncols=True,
            )

    def step(self, running_loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 10 == 0 or self.bar.n == self.steps:
                self.bar.set_postfix(loss=f"{running_loss:.4f}", refresh=False)

    def end_epoch(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs))
            self.bar.close()
            self.bar = None
        elif self.lines:
            print(
                f"Epoch {epoch + 1}/{self.epochs} - {logs['seconds']:.2f}s - {format_logs(logs)}",
                file=self.stream,
                flush=True,
            )
