"""Per-epoch reporting for ``fit``: a tqdm bar on a terminal, one line per epoch elsewhere.

``fit`` reports an epoch's logs after its callbacks ran, so the line shows what they added.

On a terminal, an epoch's metrics go on its bar's line when the whole line fits the terminal's
width (with a bar of at least tqdm's default 10 cells); otherwise the bar line keeps the
progress and the metrics follow on the lines below it, indented, broken between metrics and
never inside one (the validation metrics on a line of their own when one line cannot hold them
all), so an 80-column terminal shows every metric in full."""

from __future__ import annotations

import sys

import numpy as np

from .files import may_write

INDENT = "  "  # before the metrics lines under a bar


def metric_items(logs: dict) -> list[str]:
    """``["loss: 0.1234", "accuracy: 0.965", ...]``: the epoch's metrics, those callbacks added
    included, but not ``lr``, ``seconds`` or the per-layer ``<kind>/<layer>`` series of
    diagnostics (those go to the History, figures and JSON, not to a line)."""
    return [f"{k}: {v:.4g}" for k, v in logs.items() if k not in ("lr", "seconds") and "/" not in k]


def duration(seconds: float) -> str:
    """An epoch's time, readable at every size: ``"8ms"`` below a second, else ``"1.25s"``."""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def format_logs(logs: dict) -> str:
    """``loss: 0.1234 - accuracy: 0.965 - ...``: :func:`metric_items` on one line."""
    return " - ".join(metric_items(logs))


def wrap_items(items: list[str], width: int) -> list[str]:
    """``items`` joined by `` - `` into lines of at most ``width`` characters, broken only
    between items (an item longer than ``width`` gets a line of its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += f" - {item}"
        else:
            lines.append(item)
    return lines


def verbose_level(verbose) -> int:
    """``fit``'s ``verbose`` as a level: 0, 1 or 2 (True and False as 1 and 0), ``"auto"``
    (Keras's default) as 1; anything else a one-line ValueError."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, (int, np.integer)) and verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")


class EpochReporter:
    """Shows training progress.  ``verbose``: 0 silent, 1 a bar when stderr is a terminal and a
    line per epoch otherwise, 2 always a line per epoch; silent where this process does not
    print (:func:`~nudgenet.files.may_write`: a distributed fit's ranks but 0)."""

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        verbose = verbose if may_write() else 0
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
                file=sys.stderr,
            )

    def step(self, running_loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 10 == 0 or self.bar.n == self.steps:
                self.bar.set_postfix(loss=f"{running_loss:.4f}", refresh=False)

    def end_epoch(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self._close_bar(metric_items(logs))
        elif self.lines:
            took = duration(logs["seconds"])
            print(
                f"Epoch {epoch + 1}/{self.epochs} - {took} - {format_logs(logs)}",
                file=self.stream,
                flush=True,
            )

    def _close_bar(self, items: list[str]) -> None:
        """Close the epoch's bar with its metrics: on its line where they fit, else below it."""
        bar, self.bar = self.bar, None
        bar.set_postfix_str(" - ".join(items), refresh=False)
        state = bar.format_dict
        width = state["ncols"]  # the terminal's width now (tqdm's: one less); None: unknown
        one_line = bar.format_meter(**{**state, "ncols": None})  # with a 10-cell bar
        below = width is not None and len(one_line) > width
        if below:
            bar.set_postfix_str("", refresh=False)
        bar.close()
        if below:
            for line in _metric_lines(items, width - len(INDENT)):
                print(INDENT + line, file=bar.fp, flush=True)


def _metric_lines(items: list[str], width: int) -> list[str]:
    """The metrics in lines of at most ``width``: one line where they fit, else the training
    metrics and the validation (``val_``) ones each starting a line of their own."""
    lines = wrap_items(items, width)
    if len(lines) == 1:
        return lines
    train = [item for item in items if not item.startswith("val_")]
    validation = [item for item in items if item.startswith("val_")]
    return [line for group in (train, validation) if group for line in wrap_items(group, width)]
