"""A checkpoint's callbacks: which ones it compares, and whose saved state each gets back.

A callback whose class says ``records_only = True`` (the loggers: :class:`~nudgenet.CSVLogger`,
:class:`~nudgenet.TensorBoard`) only records the run, so a run resumed with one added, dropped
or writing elsewhere (``nudgenet train --log-csv``, ``--tensorboard``) is the same run.  A
fingerprint describes the other callbacks, which must be the same, in the same order
(:func:`~nudgenet.callbacks.described`), and lists the loggers apart, by place and class.  On
resuming, each logger gets the state of the checkpoint's logger of its class and rank among
those (the first CSVLogger the first's: the log goes on, in its new file if it moved); one the
checkpoint has none for records from the epoch the run resumes at (a CSV log started afresh,
or appended to with ``append=True``).
"""

from __future__ import annotations

from .callbacks import described

# the loggers of the checkpoints written before loggers were listed apart
_EARLIER_LOGGERS = ("CSVLogger", "TensorBoard")


def describe(callbacks) -> dict:
    """The fingerprint's entries for ``callbacks``: ``callbacks``, the others than the loggers,
    described; ``loggers``, each logger's place among all and its class name."""
    return {
        "callbacks": described([cb for cb in callbacks if not cb.records_only]),
        "loggers": [[i, type(cb).__name__] for i, cb in enumerate(callbacks) if cb.records_only],
    }


def as_written_now(fingerprint: dict) -> dict:
    """``fingerprint`` with its loggers listed apart, as :func:`describe` does, where it was
    written before (they were among its ``callbacks``, then as class names or described)."""
    if "loggers" in fingerprint or not isinstance(fingerprint.get("callbacks"), list):
        return fingerprint
    entries = fingerprint["callbacks"]
    names = [entry if isinstance(entry, str) else entry.get("class") for entry in entries]
    return {
        **fingerprint,
        "callbacks": [e for e, name in zip(entries, names) if name not in _EARLIER_LOGGERS],
        "loggers": [[i, name] for i, name in enumerate(names) if name in _EARLIER_LOGGERS],
    }


def compared(fingerprint: dict) -> dict:
    """What of a fingerprint two runs must share: all of it but its loggers."""
    return {key: value for key, value in fingerprint.items() if key != "loggers"}


def saved_places(mine: dict, theirs: dict) -> list[int | None]:
    """For each callback of the run ``mine`` describes, the place of the checkpoint's callback
    whose state it gets back (``theirs``, both as :func:`describe` gives them; their other
    callbacks already found alike), or None: a logger the checkpoint has none for."""
    places, loggers = [], []
    for fingerprint in (mine, theirs):
        loggers.append(fingerprint.get("loggers", []))
        at = {i for i, _ in loggers[-1]}
        count = len(fingerprint.get("callbacks", [])) + len(at)
        places.append([i for i in range(count) if i not in at])  # the others, in order
    (others, their_others), (my_loggers, their_loggers) = places, loggers
    found: list[int | None] = [None] * (len(others) + len(my_loggers))
    for mine_at, theirs_at in zip(others, their_others):
        found[mine_at] = theirs_at
    for i, name in my_loggers:
        rank = sum(1 for j, other in my_loggers if other == name and j < i)
        same = [j for j, other in their_loggers if other == name]
        found[i] = same[rank] if rank < len(same) else None
    return found


def reordered(state: dict, places: list[int | None]) -> dict:
    """A checkpoint's ``state`` with its callbacks' states (and stop flags) in the order of the
    run resuming it, by :func:`saved_places`: None where a callback gets none back."""
    moved = {}
    for key in ("callbacks", "callback stops"):
        if key in state:  # (older checkpoints kept no stop flags)
            moved[key] = [None if at is None else state[key][at] for at in places]
    return {**state, **moved}
