"""Training logs in the formats people already read: :class:`TensorBoard` event files
(``tensorboard --logdir DIR``; the ``tensorboard`` extra, imported when the callback is built)
and Keras's :class:`CSVLogger` file.  Both are callbacks for :func:`nudgenet.fit`; both write
only where :func:`nudgenet.files.may_write` says this process writes the run's files (rank 0
of a data-parallel run)."""

from .csv_logger import CSVLogger
from .tensorboard import TensorBoard

__all__ = ["CSVLogger", "TensorBoard"]
