"""Run under ``mpiexec -n N``: data-parallel fits against one process's, written as JSON by rank 0.

Every rank also trains the single-process reference (the models are tiny), so each case compares
the parameters after a whole fit (max |Δ| / max |θ|), the History's values, and that the History
is the same on every rank.  ``python equivalence.py OUT.json WORKDIR [NODES]``: with NODES, the
ranks are told they sit on that many machines (consecutive ranks on one), as a cluster would be.
"""

import itertools
import json
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from threadpoolctl import threadpool_info

import nudgenet as ng
from nudgenet import files
from nudgenet.distributed import node
from nudgenet.distributed.threads import affinity

comm = MPI.COMM_WORLD
out_path, workdir = Path(sys.argv[1]), Path(sys.argv[2])
if len(sys.argv) > 3:
    nodes = int(sys.argv[3])
    node.split_nodes = lambda comm: comm.Split(color=comm.rank * nodes // comm.size, key=comm.rank)
results = {"ranks": comm.size, "cases": {}}
with ng.distributed.guard():  # the script's own code, guarded as fit is
    results["rank_and_size"] = comm.allgather((ng.distributed.rank(), ng.distributed.size()))

OPTIMIZERS = {
    "sgd": lambda p: ng.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: ng.optim.Adam(p, lr=0.01),
    "adamw": lambda p: ng.optim.AdamW(p, lr=0.01, weight_decay=0.05),
}


def classifier(dtype, dropout=False, seed=0):
    layers = [ng.Linear(6, 8, seed=seed, dtype=dtype), ng.Tanh()]
    layers += [ng.Dropout(0.3, seed=7)] if dropout else []
    return ng.Sequential(*layers, ng.Linear(8, 3, seed=seed + 1, dtype=dtype))


def flat(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def both(build, x, y, opt, loss_fn, build_here=None, callbacks=list, **options):
    """(parameters, History) of one process, then of this rank in the data-parallel run (its
    model from ``build_here``, if given); each run with new ``callbacks()``."""
    runs = []
    for distributed in (False, True):
        model = (build_here if distributed and build_here else build)()
        optimizer = OPTIMIZERS[opt](model.parameters())
        history = ng.fit(
            model, loss_fn, optimizer, x, y, seed=0, verbose=0, distributed=distributed,
            callbacks=callbacks(), **options,
        )  # fmt: skip
        runs.append((flat(model), history))
    return runs


def record(name, runs):
    (p1, h1), (pn, hn) = runs
    everyone = comm.allgather((h1.to_dict(), hn.to_dict(), hn.stop_reason))
    same_everywhere = all(theirs[1:] == everyone[0][1:] for theirs in everyone)
    history_error = {
        key: max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(h1.history[key], values))
        for key, values in hn.history.items()
        if key != "seconds" and not key.startswith("dead_units/")  # those: rank 0's rows
    }
    results["cases"][name] = {
        "param_error": float(np.abs(pn - p1).max() / np.abs(p1).max()),
        "history_error": history_error,
        "same_history_on_every_rank": same_everywhere,
        "keys": sorted(hn.history),
        "epochs": [len(h1), len(hn)],
        "lr_changed": len(set(hn.history["lr"])) > 1,
    }


rng = np.random.default_rng(1)
x64 = rng.normal(size=(203, 6))
labels = rng.integers(0, 3, 203)
for dtype, step in itertools.product(("float64", "float32"), ("", "-engine")):
    x = x64.astype(dtype)
    for opt in OPTIMIZERS:
        for validation in (0.0, 0.2):
            record(
                f"{opt}-{dtype}-{'val' if validation else 'noval'}{step}",
                both(
                    lambda dtype=dtype: classifier(dtype), x, labels, opt,
                    loss_fn=ng.CrossEntropyLoss(), epochs=3, batch_size=32,
                    validation_split=validation, metrics=["accuracy", "f1_macro"],
                    compile=not step,  # the compiled step, and the engine (compile=False)
                ),
            )  # fmt: skip

# the engine (compile=False), with row weights, on the same classifier
record(
    "engine-class-weight",
    both(
        lambda: classifier("float64"), x64, labels, "adam", loss_fn=ng.CrossEntropyLoss(),
        epochs=2, batch_size=32, compile=False, class_weight="balanced",
        validation_split=0.2, metrics=["accuracy"],
    ),
)  # fmt: skip

# plain functions as the loss (their reprs hold an address, another on every rank), a mean and
# a sum (a share of the batch weighs by its rows only for a mean)
for name, loss_fn in (("function-loss", ng.functional.cross_entropy),
                      ("function-loss-sum", partial(ng.functional.cross_entropy, reduction="sum"))):
    record(name, both(lambda: classifier("float64"), x64, labels, "sgd", loss_fn=loss_fn,
                      epochs=2, batch_size=32))  # fmt: skip

# rank 0's initial parameters on every rank: the other ranks build theirs from other seeds
record(
    "rank-0-initial-parameters",
    both(
        lambda: classifier("float64"), x64, labels, "sgd", loss_fn=ng.CrossEntropyLoss(),
        build_here=lambda: classifier("float64", seed=10 * comm.rank), epochs=1, batch_size=32,
    ),
)  # fmt: skip

# row weights of 0: a rank's whole share (rows 6-8), a whole batch (rows 0-5), in order
zero_weights = np.ones(len(x64))
zero_weights[:9] = 0
record(
    "zero-weight-shares",
    both(
        lambda: classifier("float64"), x64, labels, "adam", loss_fn=ng.CrossEntropyLoss(),
        epochs=2, batch_size=6, shuffle=False, sample_weight=zero_weights, metrics=["accuracy"],
    ),
)  # fmt: skip

# class weights of a cross-entropy on integer labels: its mean divides by Σ w[yₙ], so a rank's
# share weighs by its rows' class weights (it weighed by its rows: 2e-2 apart), with row weights
# too, and F.cross_entropy's weight= through a partial
class_weighted = [0.5, 1.0, 3.0]
for name, loss_fn, options in (
    ("class-weighted-loss", ng.CrossEntropyLoss(weight=class_weighted), {}),
    ("class-weighted-loss-rows", ng.CrossEntropyLoss(weight=class_weighted),
     {"sample_weight": rng.uniform(0, 2, len(x64))}),
    ("class-weighted-function", partial(ng.functional.cross_entropy, weight=class_weighted), {}),
):  # fmt: skip
    record(name, both(lambda: classifier("float64"), x64, labels, "sgd", loss_fn=loss_fn,
                      epochs=2, batch_size=16, validation_split=0.2, **options))  # fmt: skip

# a SciPy sparse x (each rank makes its own rows of a batch dense), validation rows too; the
# compiled step and the engine
for step in ("", "-engine"):
    record(
        f"sparse-x{step}",
        both(
            lambda: classifier("float64"), sp.csr_matrix(x64), labels, "adam",
            loss_fn=ng.CrossEntropyLoss(), epochs=2, batch_size=32, validation_split=0.2,
            metrics=["accuracy"], compile=not step,
        ),
    )  # fmt: skip

# callbacks that stop training and change the learning rate decide alike on every rank
record(
    "early-stopping",
    both(
        lambda: classifier("float64"), x64, labels, "sgd", loss_fn=ng.CrossEntropyLoss(),
        epochs=20, batch_size=16, validation_split=0.3, callbacks=lambda: [
            ng.ReduceLROnPlateau(patience=0, factor=0.5), ng.EarlyStopping(patience=3)
        ],
    ),
)  # fmt: skip


# a callback freezing the first layer for epoch 1 and training it again from epoch 2 (Adam's
# bias correction counting each parameter's own steps), on the compiled step and the engine
class FreezesTheFirstLayerForEpoch1(ng.Callback):
    writes_parameters = False  # it changes requires_grad only

    def on_epoch_begin(self, epoch, logs=None):
        for p in self.model[0].parameters():
            p.requires_grad = epoch != 1


for step in ("", "-engine"):
    record(
        f"freeze-then-unfreeze{step}",
        both(
            lambda: classifier("float64"), x64, labels, "adam", loss_fn=ng.CrossEntropyLoss(),
            epochs=3, batch_size=32, compile=not step,
            callbacks=lambda: [FreezesTheFirstLayerForEpoch1()],
        ),
    )  # fmt: skip


# Keras's self.model.stop_training set on one rank only (its own budget, say) stops every rank
class StopsAfterSecondEpoch(ng.Callback):
    writes_parameters = False

    def __init__(self, ranks):
        self.ranks = list(ranks)  # the ranks that set it

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1 and comm.rank in self.ranks:
            self.model.stop_training = True


stoppers = iter([StopsAfterSecondEpoch(range(comm.size)), StopsAfterSecondEpoch([comm.size - 1])])
record(
    "stop-on-the-last-rank",
    both(
        lambda: classifier("float64"), x64, labels, "sgd", loss_fn=ng.CrossEntropyLoss(),
        epochs=5, batch_size=32, callbacks=lambda: [next(stoppers)],
    ),
)  # fmt: skip

# gradient clipping (of the summed gradient) and a sum-reduced loss; the diagnostics' norms of
# the summed gradient before clipping
record(
    "clip-sum-loss",
    both(
        lambda: classifier("float64"), x64, labels, "sgd",
        loss_fn=ng.CrossEntropyLoss(reduction="sum"), epochs=2, batch_size=32,
        clip_grad_norm=0.5, metrics=["accuracy"], diagnostics=True,
    ),
)  # fmt: skip

# batches with fewer rows than ranks (some ranks have none), validation rows fewer than ranks;
# the diagnostics (grad norms of the whole batch; dead units of rank 0's rows)
xr = x64[:11]
yr = np.stack([xr.sum(axis=1), xr[:, 0] * xr[:, 1]], axis=1)
record(
    "regression-tiny-batches",
    both(
        lambda: ng.Sequential(ng.Linear(6, 5, seed=3, dtype="float64"), ng.ReLU(),
                              ng.Linear(5, 2, seed=4, dtype="float64")),
        xr, yr, "adam", loss_fn=ng.MSELoss(), epochs=3, batch_size=2,
        validation_data=(x64[11:13], yr[:2]), metrics=["r2", "mae", "rmse"], diagnostics=True,
    ),
)  # fmt: skip

results["reduction"] = ng.distributed.last_run()["reduction"]

# a model of more than one piece of the sum (38,220 parameters), uneven shares
record(
    "several-pieces",
    both(
        lambda: ng.Sequential(ng.Linear(6, 300, seed=5, dtype="float64"), ng.Tanh(),
                              ng.Linear(300, 120, seed=6, dtype="float64")),
        x64, rng.integers(0, 120, len(x64)), "adam", loss_fn=ng.CrossEntropyLoss(), epochs=2,
        batch_size=37,
    ),
)  # fmt: skip
results["several_pieces_reduction"] = ng.distributed.last_run()["reduction"]


# a callback that writes the parameters in place (each rank runs it): every rank its own copy
class Shrink(ng.Callback):
    def on_epoch_end(self, epoch, logs=None):
        for p in self.model.parameters():
            p.data *= 0.9


record(
    "callback-writes-parameters",
    both(
        lambda: classifier("float64"), x64, labels, "adam", loss_fn=ng.CrossEntropyLoss(),
        epochs=3, batch_size=32, callbacks=lambda: [Shrink()],
    ),
)  # fmt: skip
results["writing_callback_reduction"] = ng.distributed.last_run()["reduction"]

# too little shared memory on the machine: Allreduce, and a warning on rank 0
real_free, node.shared_memory_free = node.shared_memory_free, lambda: 1000
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    record("no-shared-memory", both(lambda: classifier("float64"), x64, labels, "sgd",
                                    loss_fn=ng.CrossEntropyLoss(), epochs=1, batch_size=32))
node.shared_memory_free = real_free
results["no_shared_memory"] = {
    "reduction": ng.distributed.last_run()["reduction"],
    "warned": comm.allgather([str(w.message) for w in seen if "--shm-size" in str(w.message)]),
}


# an optimiser that replaces step() cannot update a part: every rank the whole, after Allreduce
class LoggedSGD(ng.optim.SGD):
    def step(self, *args):
        super().step(*args)


OPTIMIZERS["sgd"], plain_sgd = (lambda p: LoggedSGD(p, lr=0.1, momentum=0.9)), OPTIMIZERS["sgd"]
record(
    "own-step-optimizer",
    both(
        lambda: classifier("float64"), x64, labels, "sgd", loss_fn=ng.CrossEntropyLoss(),
        epochs=2, batch_size=32,
    ),
)  # fmt: skip
OPTIMIZERS["sgd"] = plain_sgd
results["own_step_reduction"] = ng.distributed.last_run()["reduction"]


# after a run, each rank's parameters, optimiser state and gradients are its own again (the
# node's shared memory is freed), and its .grad the last batch's whole gradient, as one process's
# (and the very arrays they were in before: arrays taken from them then see the fit's values)
def last_gradient(distributed, opt="adam"):
    model = classifier("float64")
    optimizer = OPTIMIZERS[opt](model.parameters())
    taken = [(p.data, p.grad) for p in model.parameters()] + list(optimizer.state.values())
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x64, labels, epochs=1, batch_size=64, seed=0,
           verbose=0, distributed=distributed)  # fmt: skip
    now = [(p.data, p.grad) for p in model.parameters()] + list(optimizer.state.values())
    kept = all(a is b for pair, pair_now in zip(taken[:4], now[:4])
               for a, b in zip(pair, pair_now)) and all(a is b for a, b in zip(taken[4:], now[4:]))
    return model, optimizer, np.concatenate([p.grad.ravel() for p in model.parameters()]), kept


_, _, alone, _ = last_gradient(False)
model, optimizer, together, kept = last_gradient(True)
OPTIMIZERS["sgd"] = lambda p: LoggedSGD(p, lr=0.1, momentum=0.9)  # the Allreduce's buffer
kept_allreduce = last_gradient(True, "sgd")[3]
OPTIMIZERS["sgd"] = plain_sgd
before, state_before = flat(model), optimizer.state["m"].copy()
model.parameters()[0].data[...] += comm.rank + 1  # each rank its own change
optimizer.state["m"][...] += comm.rank + 1
comm.Barrier()
results["after"] = {
    "gradient_error": float(np.abs(together - alone).max() / np.abs(alone).max()),
    "own_parameters": comm.allgather(
        bool(np.array_equal(flat(model)[:48], before[:48] + (comm.rank + 1)))
        and bool(np.array_equal(flat(model)[48:], before[48:]))
    ),
    "own_state": comm.allgather(
        bool(np.array_equal(optimizer.state["m"], state_before + (comm.rank + 1)))
    ),
    "same_parameters_before": len({b.tobytes() for b in comm.allgather(before)}) == 1,
    "arrays_kept": comm.allgather([kept, kept_allreduce]),
}

# Dropout: masks differ per rank (their generators' states after the run), the same again
def dropout_run():
    model = classifier("float64", dropout=True)
    ng.fit(model, ng.CrossEntropyLoss(), OPTIMIZERS["sgd"](model.parameters()), x64, labels,
           epochs=2, batch_size=32, seed=0, verbose=0, distributed=True)  # fmt: skip
    return flat(model), str(model[2].rng.bit_generator.state)


(first, first_state), (again, again_state) = dropout_run(), dropout_run()
results["dropout"] = {
    "repeatable": comm.allgather(bool(np.array_equal(first, again) and first_state == again_state)),
    "streams_differ": len(set(comm.allgather(first_state))) == comm.size,
    "same_parameters_on_every_rank": len({a.tobytes() for a in comm.allgather(first)}) == 1,
}

# only rank 0 writes: a checkpointed run; the same run resumed ends as the uninterrupted one
seen_may_write = []


class Watch(ng.Callback):
    writes_parameters = False  # reads only: the machine's ranks may share one copy

    def on_epoch_end(self, epoch, logs=None):
        seen_may_write.append(files.may_write())


def checkpointed(epochs, folder):
    model = classifier("float64")
    optimizer = OPTIMIZERS["adam"](model.parameters())
    history = ng.fit(
        model, ng.CrossEntropyLoss(), optimizer, x64, labels, epochs=epochs, batch_size=32,
        seed=0, verbose=0, distributed=True, callbacks=[Watch()], metrics=["accuracy"],
        checkpoint=ng.Checkpoint(folder, every_steps=3, keep=20) if folder else None,
    )  # fmt: skip
    history.history.pop("seconds")
    return flat(model), history.history


folder = workdir / "checkpoints"
checkpointed(2, folder)
written = sorted(p.name for p in folder.iterdir()) if comm.rank == 0 else None
if comm.rank == 0:  # as if killed in epoch 2 after its 5th step: resume from there
    for name in written[written.index("checkpoint-000001-0000005.safetensors") + 1 :]:
        (folder / name).unlink()
comm.Barrier()
resumed, resumed_history = checkpointed(4, folder)
straight, straight_history = checkpointed(4, None)
results["checkpoint"] = {
    "may_write": comm.allgather(seen_may_write),
    "files": written,
    "resumed_equals_uninterrupted": comm.allgather(
        bool(np.array_equal(resumed, straight)) and resumed_history == straight_history
    ),
    "may_write_after": comm.allgather(files.may_write()),
}

results["last_run"] = ng.distributed.last_run()  # the uninterrupted run: 4 epochs of 7 steps


# metrics of float statistics (r2, mse) resumed mid-epoch: every rank's statistics are combined
# in step order, so the resumed run's equal the uninterrupted one's, bit for bit (rank 0 held
# the saved ranks' statistics first, then its own: r2 came out 1 ulp apart, now and then)
def regression_checkpointed(folder):
    model = ng.Sequential(ng.Linear(2, 2, seed=0, dtype="float64"))
    history = ng.fit(
        model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.05), x64[:120, :2],
        x64[:120, 2:4] * 3, epochs=2, batch_size=5, seed=0, verbose=0, metrics=["r2", "mse"],
        checkpoint=ng.Checkpoint(folder, every_epochs=None, every_steps=2, keep=40)
        if folder else None, distributed=True,
    )  # fmt: skip
    history.history.pop("seconds")
    return history.history


saved = workdir / "regression-checkpoints"
regression_checkpointed(saved)
resumed_from = []
if comm.rank == 0:  # killed at steps 7, 13 and 21 in turn (of 24 per epoch, 48 in all)
    names = sorted(p.name for p in saved.iterdir())
    resumed_from = [n for n in names if n.endswith(("0000006.safetensors", "0000012.safetensors"))]
straight_metrics = regression_checkpointed(None)
same_metrics = []
for name in comm.bcast(resumed_from, root=0):
    if comm.rank == 0:
        trial = workdir / f"from-{name}"
        trial.mkdir()
        (trial / name).write_bytes((saved / name).read_bytes())
    comm.Barrier()
    same_metrics.append(regression_checkpointed(workdir / f"from-{name}") == straight_metrics)
results["metrics_resumed_equal_uninterrupted"] = comm.allgather(same_metrics)



# a stop set mid-epoch on the last rank alone, then a checkpoint before the epoch's end: the run
# resumed from it stops after that epoch too
class StopsMidEpoch(ng.Callback):
    writes_parameters = False
    epoch = None  # resumed mid-epoch, its on_epoch_begin has run before

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 0 and comm.rank == comm.size - 1:
            self.model.stop_training = True


def stopped_mid_epoch(folder):
    model = classifier("float64")
    history = ng.fit(
        model, ng.CrossEntropyLoss(), OPTIMIZERS["sgd"](model.parameters()), x64, labels,
        epochs=4, batch_size=32, seed=0, verbose=0, distributed=True, callbacks=[StopsMidEpoch()],
        checkpoint=ng.Checkpoint(folder, every_steps=3, keep=20) if folder else None,
    )  # fmt: skip
    history.history.pop("seconds")
    return flat(model), history.history, history.stop_reason


folder = workdir / "stop-checkpoints"
stopped_mid_epoch(folder)
if comm.rank == 0:  # as if killed after epoch 2's 2nd step, its flag set at the 1st
    names = sorted(p.name for p in folder.iterdir())
    for name in names[names.index("checkpoint-000001-0000002.safetensors") + 1 :]:
        (folder / name).unlink()
comm.Barrier()
resumed, straight = stopped_mid_epoch(folder), stopped_mid_epoch(None)
results["stop_resumed"] = comm.allgather(
    bool(np.array_equal(resumed[0], straight[0])) and resumed[1:] == straight[1:]
    and len(straight[1]["loss"]) == 2
)


# Dropout resumed: bit for bit where every batch splits evenly (12 rows a batch: 1 to 4 ranks)
def dropout_checkpointed(epochs, folder):
    model = classifier("float64", dropout=True)
    ng.fit(model, ng.CrossEntropyLoss(), OPTIMIZERS["sgd"](model.parameters()), x64[:96],
           labels[:96], epochs=epochs, batch_size=12, seed=0, verbose=0, distributed=True,
           checkpoint=folder and ng.Checkpoint(folder))  # fmt: skip
    return flat(model)


dropout_checkpointed(1, workdir / "dropout-checkpoints")  # then resumed for a second epoch
resumed = dropout_checkpointed(2, workdir / "dropout-checkpoints")
results["dropout_resumed_equals_uninterrupted"] = comm.allgather(
    bool(np.array_equal(resumed, dropout_checkpointed(2, None)))
)

# BLAS threads during a run: the machine's cores shared among its ranks, never more than before
class Threads(ng.Callback):
    def on_train_begin(self, logs=None):  # outside fit's own limit for small products
        self.seen = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
threads = Threads()
model = classifier("float64")
optimizer = OPTIMIZERS["sgd"](model.parameters())
ng.fit(model, ng.CrossEntropyLoss(), optimizer, x64, labels, epochs=1, batch_size=64, seed=0,
       verbose=0, distributed=True, callbacks=[threads])  # fmt: skip
share = max(1, len(affinity()) // comm.size)  # every rank on this one machine, none bound
results["blas_threads"] = comm.allgather(
    threads.seen == [min(share, n) for n in before]
    and before == [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
)

# progress and a callback's lines: only rank 0 prints (ReduceLROnPlateau's min_delta makes
# epoch 2 no improvement); the log callbacks (each rank names its own files) write on rank 0
model = classifier("float64")
logs = [ng.CSVLogger(workdir / f"log-{comm.rank}.csv"), ng.TensorBoard(workdir / f"tb-{comm.rank}")]
logs.append(ng.ReduceLROnPlateau("loss", patience=0, min_delta=10, verbose=1))
ng.fit(model, ng.CrossEntropyLoss(), OPTIMIZERS["sgd"](model.parameters()), x64, labels,
       epochs=2, batch_size=64, seed=0, verbose=2, distributed=True, callbacks=logs)  # fmt: skip
comm.Barrier()
results["log_files"] = sorted(p.name for p in workdir.glob("[lt][ob]*-*"))

if comm.rank == 0:
    out_path.write_text(json.dumps(results, indent=1))
