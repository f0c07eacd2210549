"""Exceptions nudgenet raises for user mistakes; the CLI turns these into one-line errors."""


class NudgenetError(Exception):
    """Base class of every error nudgenet raises on bad input."""


class ShapeError(NudgenetError, ValueError):
    """An array or tensor had the wrong shape; the message names expected and actual."""


class DataError(NudgenetError, ValueError):
    """A data file or array is missing, corrupt, or inconsistent (labels vs images, checksums)."""


class DataNotFoundError(DataError):
    """Data files are not where they were looked for (unlike a file that is there but corrupt,
    which is a plain :class:`DataError`)."""


class ModelFileError(NudgenetError, ValueError):
    """A model file is missing, corrupt, or not a nudgenet model."""


class CompileError(NudgenetError, ValueError):
    """``fit(..., compile=True)`` was asked for a model, loss or targets the compiled training
    step does not cover; the message names what (a layer, a hook, the targets, ...)."""


class CheckpointError(NudgenetError, ValueError):
    """A checkpoint is unreadable (corrupt, truncated, not a checkpoint) or belongs to another
    run (architecture, optimiser, data, batch size or seed differ); the message names which."""


class ExportError(NudgenetError, ValueError):
    """A model cannot be exported (to ONNX): the message names the layer and the operation that
    has no counterpart, or what else stands in the way."""
