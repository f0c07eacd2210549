"""``nudgenet train``'s log options: ``--tensorboard DIR`` and ``--log-csv PATH``."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from ..callbacks import Callback
from ..logs import CSVLogger, TensorBoard
from .common import UsageError
from .output import starts_as, unused_name


def log_folder(text: str) -> Path:
    """An argparse type: a folder to write logs into (made when missing), not a file."""
    path = Path(text)
    if not text or path.is_file():
        raise argparse.ArgumentTypeError(f"expected a folder for the logs, got {text!r}")
    return path


def log_file(text: str) -> Path:
    """An argparse type: a file to write, not a folder."""
    path = Path(text)
    if not text or path.is_dir() or text.endswith(("/", "\\")):
        raise argparse.ArgumentTypeError(f"expected a file path, got {text!r}")
    return path


def add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard",
        type=log_folder,
        metavar="DIR",
        help="write TensorBoard logs to DIR (view: tensorboard --logdir DIR): every epoch's "
        "scalars, the weight and gradient histograms, the first layer's weights as images for "
        'image data, the layer table (needs tensorboardX: pip install "nudgenet[tensorboard]")',
    )
    parser.add_argument(
        "--log-csv",
        type=log_file,
        metavar="PATH",
        help="write one CSV row per epoch to PATH (Keras's CSVLogger format: epoch, then the "
        "epoch's metrics, sorted by name); an existing file is replaced only if it is such a log",
    )


def log_callbacks(args, data) -> list[Callback]:
    """The log writers the options ask for, for the loaded data set ``data``: TensorBoard draws
    the first layer's weights when the rows are images of a known shape (the data set's, or a
    square)."""
    callbacks: list[Callback] = []
    if args.tensorboard:
        shape = data.record.image_shape
        side = math.isqrt(data.features)
        if shape is None and side * side == data.features:
            shape = (side, side)
        images = data.record.images and shape is not None
        callbacks.append(TensorBoard(args.tensorboard, write_images=images, image_shape=shape))
    if args.log_csv:
        callbacks.append(CSVLogger(args.log_csv))
    return callbacks


def check_log_file(args) -> None:
    """Before anything is read or trained: a file already at ``--log-csv`` must be a CSV log
    (its first line ``epoch,...``) or empty: the log replaces its file when training starts (a
    UsageError says so; the run's other files, data sets among them:
    :func:`~nudgenet.cli.output.check_distinct`)."""
    log = args.log_csv.resolve()
    other = unused_name(log, "log", ".csv").name
    if log.is_file() and not starts_as(args.log_csv, _LOG_START, "--log-csv", UsageError):
        raise UsageError(
            f"--log-csv {args.log_csv} exists and is not a CSV log (its first line is no header "
            f"epoch,...); the log would replace it: name another file, such as {other}"
        )


_LOG_START = re.compile(rb"(\xef\xbb\xbf)?epoch(,|\r?\n|$)")  # a CSVLogger's header (a BOM)
