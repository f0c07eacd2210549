"""What a checkpoint must share with the run resuming from it (:func:`fingerprint`), and how
a checkpoint of another run is refused (:func:`check_same_run`): other data named first, then
the first other setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint_callbacks import compared, describe
from .data.sparse_rows import crc32
from .errors import CheckpointError, first_difference
from .io import outline
from .run_state import FIT_ARRAYS, Run, frozen


def fingerprint(run: Run, arrays, seed, settings: dict, lr: float) -> dict:
    """What a checkpoint must share with the run resuming from it, as JSON-able values: the
    model, the optimiser and its settings (its learning rate ``lr``, :meth:`Checkpoint.run_lr`),
    the callbacks and theirs, the loggers apart (:mod:`~nudgenet.checkpoint_callbacks`), the
    data ``arrays`` (training inputs and targets, validation ones), the ``seed`` and the loop's
    ``settings`` (batch size, ...)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed = int(seed)
    else:
        seed = "the global generator" if seed is None else "a Generator"
    state = run.model.state_dict()
    return {
        "architecture": outline(run.model),
        "parameters": {k: [list(v.shape), v.dtype.str] for k, v in state.items()},
        "frozen parameters": frozen(run.model),
        "optimizer": [type(run.optimizer).__name__, {**run.optimizer.hyperparameters(), "lr": lr}],
        **describe(run.callbacks),
        "data shapes": [[list(a.shape), a.dtype.str] for a in arrays],
        "data checksum": [crc32(a) for a in arrays],
        **settings,
        "seed": seed,
    }


def check_same_run(path: Path, mine: dict, theirs: dict, restart_words: str) -> None:
    older = theirs.get("callbacks")
    if isinstance(older, list) and older and all(isinstance(name, str) for name in older):
        # written before the callbacks' settings were kept: their classes alone are compared
        mine = {**mine, "callbacks": [callback["class"] for callback in mine["callbacks"]]}
    if "frozen parameters" not in theirs:  # written before they were kept: not compared
        mine = {key: value for key, value in mine.items() if key != "frozen parameters"}
    difference = _other_data(mine, theirs) or first_difference(compared(mine), compared(theirs))
    if difference:
        raise CheckpointError(
            f"checkpoint {path} is of another run: {difference}; use another directory, or "
            f"{restart_words} to start over{_resumed_with(difference, theirs)}"
        )


def _resumed_with(difference: str, theirs: dict) -> str:
    """How to resume a checkpoint whose only difference named is the learning rate its run
    started at (a default that changed, say): give that rate."""
    if not difference.startswith("optimizer[1].lr "):
        return ""
    rate = theirs["optimizer"][1]["lr"]
    return f" (or, to resume it, give the learning rate it started at, {rate})"


def _other_data(mine: dict, theirs: dict) -> str | None:
    """How two fingerprints' data differ (:func:`_data_difference`), and what may have made
    them differ: another data set, or other options splitting, converting or weighing it (the
    same file with another validation split or dtype).  Named first: a run on another data set
    also differs in what is fitted to the data (a Standardize layer's mean, the output layer's
    size), which says less."""
    difference = _data_difference(mine, theirs)
    return difference and (
        f"the data differ: {difference} (another data set, or another split, dtype or "
        "weighting of it)"
    )


def _data_difference(mine: dict, theirs: dict) -> str | None:
    """By fit's names of the arrays (``x``, ``y``, :data:`~nudgenet.run_state.FIT_ARRAYS`):
    which arrays, else the first one's shape (rows, columns) or dtype, else its contents; None
    where the data agree."""
    shapes, other_shapes = mine.get("data shapes"), theirs.get("data shapes")
    if not (isinstance(shapes, list) and isinstance(other_shapes, list)):
        return None  # (first_difference names what they hold)
    names, other_names = _array_names(len(shapes)), _array_names(len(other_shapes))
    if names != other_names:
        return f"{', '.join(other_names)} there, {', '.join(names)} here"
    for name, (shape, dtype), (other, other_dtype) in zip(names, shapes, other_shapes):
        if shape != other:
            return f"{name} of shape {tuple(other)} there, {tuple(shape)} here"
        if dtype != other_dtype:
            return f"{name} of dtype {other_dtype} there, {dtype} here"
    sums = zip(names, mine.get("data checksum", ()), theirs.get("data checksum", ()))
    changed = [name for name, crc, other in sums if crc != other]
    return f"{changed[0]} holds other values" if changed else None


def _array_names(count: int) -> tuple[str, ...]:
    """The names of a fingerprint's ``count`` data arrays, in :func:`fit_arrays`' order: ``x``
    and ``y``, the validation pair where there are 4 or more, ``sample_weight`` where their
    number is odd."""
    validation = FIT_ARRAYS[2:4] if count >= 4 else ()
    return (*FIT_ARRAYS[:2], *validation, *FIT_ARRAYS[4:] * (count % 2))
