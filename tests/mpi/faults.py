"""Run under ``mpiexec -n 2``: one way a data-parallel fit goes wrong, named by ``sys.argv[1]``.

``python faults.py CASE``: ``bad-data`` (rank 1's labels out of range), ``memory`` (rank 1 runs
out of memory at its 3rd batch), ``interrupt`` (Ctrl-C on rank 0 at its 3rd batch: a
KeyboardInterrupt raised), ``sigint`` (the signal SIGINT to rank 1 at its 3rd batch), ``kill``
(rank 1 killed with SIGKILL at its 3rd batch), ``model`` / ``data`` / ``options`` (rank 1 builds
another model, has one row fewer, another batch size), ``bad-batch-size`` (rank 1 alone
passes batch_size=0: refused there, not on rank 0), ``activation`` (rank 1's hidden layer
is a Tanh: the same parameter shapes), ``data-values`` (rank 1 draws its own data: the same
shapes), ``batchnorm``, ``no-seed``, ``uncaught`` (the script's own code raises on rank 1
before ``fit``, rank 0 goes on into ``fit``), ``leaves`` (rank 1 exits normally, rank 0 goes on
into ``fit``), ``second-fit-alone`` (both ranks run a short ``fit``, then rank 0 alone another),
``sample-weight`` (rank 1 alone passes ``sample_weight``), ``seed`` (rank 1's seed is 1),
``slow`` (rank 1 starts ``fit`` 2.5 s after rank 0: a stall line, then training as usual),
``exit-in-fit`` (a callback calls ``sys.exit(0)`` on rank 1 at its 3rd batch),
``validation-split`` / ``split-mode`` / ``class-weight`` (rank 1 alone holds out a fifth of the
rows / draws them at random / weights class 0), ``callback-settings`` (rank 1's ReduceLROnPlateau
reduces the rate by another factor), ``guard-error`` (rank 1 fails to load a file inside
``ng.distributed.guard()``), ``guard-exit`` / ``guard-exit-message`` (rank 1 calls
``sys.exit(3)`` / ``sys.exit("bad config")`` inside it), ``exit-outside`` (rank 1 calls
``sys.exit(3)`` after joining MPI, outside ``guard()``; rank 0 goes on into ``fit``),
``by-hand-no-seed`` (``fit(distributed=DataParallel(comm), seed=None)``), ``by-hand-uncaught``
(after making a ``DataParallel(comm)``, the script's own code raises on rank 1 while rank 0
waits in a collective of its own; ``by-hand-self-uncaught``: the same with a one-rank
``DataParallel(COMM_SELF)``, as a sweep of one run per rank), ``lr-on-rank-0`` (a callback
halves the learning rate on rank 0 only, at an epoch's end; ``lr-at-begin-on-rank-0``: as the
second epoch begins), ``checkpoint-on-rank-0`` (rank 0 alone passes a
Checkpoint), ``checkpoint-path-on-rank-0`` (rank 0 alone passes a folder's path as the
checkpoint)."""

import contextlib
import os
import signal
import sys
import tempfile
import time

import numpy as np
from mpi4py import MPI

import nudgenet as ng

case, rank = sys.argv[1], MPI.COMM_WORLD.rank
if case == "uncaught" and ng.distributed.rank() == 1:
    raise FileNotFoundError("data.npz")
if case in ("by-hand-uncaught", "by-hand-self-uncaught"):  # the only nudgenet call:
    ng.distributed.DataParallel(MPI.COMM_SELF if "self" in case else MPI.COMM_WORLD.Dup())
    if rank == 1:
        raise FileNotFoundError("data.npz")
    MPI.COMM_WORLD.Barrier()  # the script's own collective: rank 1 never comes
joins_at_fit = case == "checkpoint-path-on-rank-0"  # no nudgenet call joins MPI before fit
with contextlib.nullcontext() if joins_at_fit else ng.distributed.guard():
    if case == "guard-error" and rank == 1:
        np.load("missing-data.npy")
    if case == "guard-exit" and rank == 1:
        sys.exit(3)
    if case == "guard-exit-message" and rank == 1:
        sys.exit("bad config")
rng = np.random.default_rng(1 if rank == 1 and case == "data-values" else 0)
x, y = rng.normal(size=(400, 5)), rng.integers(0, 3, 400)
hidden, batch_size, seed = 8, 32, 0
if rank == 1 and case == "bad-data":
    y[17] = 7  # a label beyond the model's 3 classes
if rank == 1 and case == "model":
    hidden = 9
if rank == 1 and case == "data":
    x, y = x[:-1], y[:-1]
if rank == 1 and case == "options":
    batch_size = 64
if rank == 1 and case == "bad-batch-size":
    batch_size = 0
distributed = True
if case in ("no-seed", "by-hand-no-seed"):
    seed = None
if case == "by-hand-no-seed":
    distributed = ng.distributed.DataParallel(MPI.COMM_WORLD)
if rank == 1 and case == "seed":
    seed = 1
split, mode, class_weight = 0.2 if case == "split-mode" else 0.0, "last", None
if rank == 1 and case == "validation-split":
    split = 0.2
if rank == 1 and case == "split-mode":
    mode = "shuffle"
if rank == 1 and case == "class-weight":
    class_weight = {np.int64(0): 2.0}  # NumPy keys, as np.unique gives
middle = [ng.BatchNorm1d(hidden)] if case == "batchnorm" else []
model = ng.Sequential(
    ng.Linear(5, hidden, seed=0),
    *middle,
    ng.Tanh() if rank == 1 and case == "activation" else ng.ReLU(),
    ng.Linear(hidden, 3, seed=1),
)


class Fail(ng.Callback):
    def __init__(self):
        self.training_settings = "its own"  # an attribute of that name: the ranks compare still

    def on_train_batch_end(self, batch, logs=None):
        if batch < 2:
            return
        if case == "memory" and rank == 1:
            raise MemoryError()
        if case == "interrupt" and rank == 0:
            raise KeyboardInterrupt
        if case == "sigint" and rank == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C's signal, to this rank alone
        if case == "kill" and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if case == "exit-in-fit" and rank == 1:
            sys.exit(0)  # "good enough, stop here": the others wait for it in the next step

    def on_epoch_begin(self, epoch, logs=None):
        if case == "lr-at-begin-on-rank-0" and rank == 0 and epoch == 1:
            self.optimizer.lr *= 0.5  # a schedule "on rank 0 only"
        if case == "freeze-on-rank-0" and rank == 0 and epoch == 1:
            self.model[0].requires_grad_(False)  # the ranks' models would part, silently

    def on_epoch_end(self, epoch, logs=None):
        if case == "lr-on-rank-0" and rank == 0:
            self.optimizer.lr *= 0.5  # bookkeeping "on rank 0 only", as a script might


if case == "second-fit-alone":
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
           epochs=1, batch_size=batch_size, seed=seed, verbose=0, distributed=True)  # fmt: skip
if case in ("leaves", "second-fit-alone") and rank == 1:
    sys.exit(0)
if case == "exit-outside" and rank == 1:
    sys.exit(3)  # no hook sees it: mpi4py's runner (python -m mpi4py) aborts the job with 3
if case == "slow" and rank == 1:
    time.sleep(2.5)
weights = np.ones(len(y)) if case == "sample-weight" and rank == 1 else None
factor = 0.2 if case == "callback-settings" and rank == 1 else 0.5
plateau = ng.ReduceLROnPlateau(monitor="loss", factor=factor, patience=1)
checkpoint = None
if case == "checkpoint-on-rank-0" and rank == 0:  # "rank 0 saves": refused before writing
    checkpoint = ng.Checkpoint(os.path.join(tempfile.gettempdir(), "never-written"))
if case == "checkpoint-path-on-rank-0" and rank == 0:  # Keras's habit: a path
    checkpoint = os.path.join(tempfile.gettempdir(), "never-written")
cpu, wall = time.process_time(), time.perf_counter()
history = ng.fit(
    model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
    epochs=2 if case == "slow" else 50, batch_size=batch_size, seed=seed, verbose=0,
    distributed=distributed, callbacks=[] if case == "slow" else [Fail(), plateau],
    sample_weight=weights,
    checkpoint=checkpoint,
    validation_split=split, validation_split_mode=mode, class_weight=class_weight,
)  # fmt: skip
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
sys.stdout.write(f"rank {rank} trained {len(history.epoch)} epochs; rank {rank} fit cpu {cpu} {wall}\n")  # noqa: E501  (one write: the ranks' lines must not merge)
print("finished")
