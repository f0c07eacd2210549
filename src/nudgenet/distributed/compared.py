"""What the ranks of a data-parallel run compare before they start, so that ranks running another
fit (or scoring other rows) are told so at once, naming the first difference
(:func:`~.faults.check_same`), rather than deadlock or average wrong numbers: fit's options as
given (:func:`fit_options`), the model's outline and parameters' shapes and a sample of each data
array's rows (:func:`description`), and, for ``evaluate`` (``fit`` gives every rank rank 0's), the
weights' values (:func:`parameters_checksum`).
"""

from __future__ import annotations

import zlib

import numpy as np

from ..io import outline

# fit's arguments the ranks compare as given, beyond fit's ``settings`` (train.py: batch_size,
# shuffle, the loss, ..., which a checkpoint's fingerprint compares too): a rank that differs in
# one is told so, not that the data these change (x's rows) differ
FIT_OPTIONS = ("seed", "epochs", "compile", "diagnostics", "validation_split",
           "validation_split_mode", "class_weight")  # fmt: skip
SAMPLE_ROWS = 16  # rows of each array whose checksum the ranks compare


def sample_checksum(array: np.ndarray, rows: int = SAMPLE_ROWS) -> int:
    """CRC-32 of ``rows`` rows spread evenly over ``array`` (reading only those of a mapped
    file): ranks that loaded other data (each its own random draw or part of a data set) differ
    here, while their shapes agree."""
    picked = np.unique(np.linspace(0, len(array) - 1, num=min(rows, len(array))).astype(np.intp))
    return zlib.crc32(np.ascontiguousarray(array[picked]).tobytes())


def description(model, data: dict[str, np.ndarray | None]) -> dict:
    """What the ranks compare of a model and the arrays of a run (by name; None: absent): the
    parameters' shapes, the architecture, each array's shape and a sample of its rows."""
    return {
        "parameters": [[list(p.shape), str(p.dtype)] for p in model.parameters()],
        "architecture": outline(model),
        **{name: "absent" if a is None else f"{a.shape} {a.dtype}" for name, a in data.items()},
        **{f"{name} (CRC-32 of {SAMPLE_ROWS} rows)": sample_checksum(a)
           for name, a in data.items() if a is not None},
    }  # fmt: skip


def parameters_checksum(model) -> int:
    """CRC-32 of every parameter's and buffer's values (BatchNorm1d's running statistics ...),
    in order."""
    crc = 0
    for array in [p.data for p in model.parameters()] + model.buffers():
        crc = zlib.crc32(np.ascontiguousarray(array).view(np.uint8), crc)
    return crc


def fit_options(arguments: dict) -> dict:
    """fit's ``arguments`` named in :data:`FIT_OPTIONS`, and how often its checkpoint saves, as
    plain values (a ``class_weight`` dict's keys as strings: JSON refuses NumPy's integers)."""
    options = {name: arguments[name] for name in FIT_OPTIONS}
    checkpoint = arguments["checkpoint"]
    options["checkpoint"] = (
        {"every_epochs": checkpoint.every_epochs, "every_steps": checkpoint.every_steps}
        if checkpoint else "none"  # every rank passes one (rank 0 alone writes it), or none
    )
    if isinstance(options["class_weight"], dict):
        options["class_weight"] = {str(k): w for k, w in options["class_weight"].items()}
    return options
