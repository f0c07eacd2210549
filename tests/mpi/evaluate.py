"""Run under ``mpiexec -n N``: ``ng.evaluate(..., distributed=True)`` beside the same call in one
process, written as JSON by rank 0.

``python evaluate.py OUT.json [MODE]``: for a classifier (loss, accuracy, with and without
``sample_weight``), a regressor (loss, r2, mae) and a plain function as the loss, in float64,
the scores of both calls and the rows each rank's model saw (a forward hook; the one row
``evaluate`` reads first to check the targets included).  MODE, on the last rank only:
``other-rows`` or ``other-weights`` (refused at the start), ``bad-labels`` (an error there ends
every rank), ``exit`` (its loss function calls ``sys.exit(0)``: the others would wait),
``alone`` (only rank 0 calls it: the stall check ends the job), ``crossed`` (it starts the next
``fit(distributed=True)`` while rank 0 scores: refused at once); ``in-a-fit``: a
``DataParallel`` made by hand also scores inside its own fit of a summed loss, whose History
must be one process's.
"""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import nudgenet as ng
import nudgenet.functional as F

comm = MPI.COMM_WORLD
mode = sys.argv[2] if len(sys.argv) > 2 else None
last = comm.rank == comm.size - 1
rng = np.random.default_rng(0)
x = rng.normal(size=(1001, 6))
labels, values = rng.integers(0, 3, 1001), x[:, :2] @ [[1.0], [-2.0]] + rng.normal(size=(1001, 1))
weights = rng.uniform(0, 2, 1001)
if mode == "other-rows" and last:
    x = x + 1.0
if mode == "bad-labels" and last:
    labels = labels.copy()
    labels[0] = 7
seen = []


def model_of(outputs: int) -> ng.Sequential:
    model = ng.Sequential(ng.Linear(6, 8, seed=1), ng.Tanh(), ng.Linear(8, outputs, seed=2))
    model.double().register_forward_hook(lambda module, args, out: seen.append(len(out.data)))
    if mode == "other-weights" and last:
        model[0].weight.data[0, 0] += 1e-3
    return model


if mode == "in-a-fit":

    class Scores(ng.Callback):
        writes_parameters = False  # reads only

        def on_epoch_end(self, epoch, logs=None):
            ng.evaluate(self.model, ng.CrossEntropyLoss(), x, labels, distributed=parallel)

    parallel = ng.distributed.DataParallel(comm)
    histories = []
    for distributed, callbacks in ((parallel, [Scores()]), (False, [])):
        model = model_of(3)
        history = ng.fit(
            model, ng.CrossEntropyLoss(reduction="sum"), ng.optim.SGD(model.parameters(), 1e-3),
            x, labels, epochs=3, batch_size=100, seed=0, verbose=0, callbacks=callbacks,
            distributed=distributed,
        )  # fmt: skip
        histories.append(history.history["loss"])
    if comm.rank == 0:
        Path(sys.argv[1]).write_text(json.dumps({"losses": histories}))
    sys.exit(0)
if mode == "alone" and comm.rank:
    sys.exit(0)  # joined MPI (mpi4py's import), never calls evaluate: rank 0 waits for it
if mode == "crossed" and last:  # skips the scoring, straight on to the next fit
    model = model_of(3)
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 1e-3), x, labels,
           epochs=1, seed=0, verbose=0, distributed=True)  # fmt: skip



def exiting_loss(scores, targets):
    if last:
        sys.exit(0)  # "done here": the other ranks wait for this one's share
    return F.mse_loss(scores, targets)


cases = {
    "classifier": (model_of(3), ng.CrossEntropyLoss(), labels, {"metrics": ["accuracy"]}),
    "weighted": (model_of(3), ng.CrossEntropyLoss(), labels, {"sample_weight": weights}),
    "regressor": (model_of(1), ng.MSELoss(), values, {"metrics": ["r2", "mae"]}),
    "function-loss": (model_of(1), F.mse_loss, values, {}),
}
if mode == "exit":
    cases = {"exit": (model_of(1), exiting_loss, values, {})}
found = {}
for name, (model, loss_fn, y, options) in cases.items():
    seen.clear()
    together = ng.evaluate(model, loss_fn, x, y, batch_size=100, distributed=True, **options)
    rows = sum(seen)
    alone = ng.evaluate(model, loss_fn, x, y, **options)
    found[name] = {"together": together, "alone": alone, "rows": comm.gather(rows)}
if comm.rank == 0:
    Path(sys.argv[1]).write_text(json.dumps(found))
