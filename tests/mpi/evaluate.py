"""Run under ``mpiexec -n N``: ``ng.evaluate(..., distributed=True)`` beside the same call in one
process, written as JSON by rank 0.

``python evaluate.py OUT.json [other-rows]``: for a classifier (loss, accuracy, with and without
``sample_weight``) and a regressor (loss, r2, mae) in float64, the scores of both calls and the
rows each rank's model saw (a forward hook; the one row ``evaluate`` reads first to check the
targets included).  ``other-rows``: the last rank passes other rows (refused at the start).
"""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import nudgenet as ng

comm = MPI.COMM_WORLD
rng = np.random.default_rng(0)
x = rng.normal(size=(1001, 6))
labels, values = rng.integers(0, 3, 1001), x[:, :2] @ [[1.0], [-2.0]] + rng.normal(size=(1001, 1))
weights = rng.uniform(0, 2, 1001)
if sys.argv[2:] == ["other-rows"] and comm.rank == comm.size - 1:
    x = x + 1.0
seen = []


def model_of(outputs: int) -> ng.Sequential:
    model = ng.Sequential(ng.Linear(6, 8, seed=1), ng.Tanh(), ng.Linear(8, outputs, seed=2))
    model.double().register_forward_hook(lambda module, args, out: seen.append(len(out.data)))
    return model


cases = {
    "classifier": (model_of(3), ng.CrossEntropyLoss(), labels, {"metrics": ["accuracy"]}),
    "weighted": (model_of(3), ng.CrossEntropyLoss(), labels, {"sample_weight": weights}),
    "regressor": (model_of(1), ng.MSELoss(), values, {"metrics": ["r2", "mae"]}),
}
found = {}
for name, (model, loss_fn, y, options) in cases.items():
    seen.clear()
    together = ng.evaluate(model, loss_fn, x, y, batch_size=100, distributed=True, **options)
    rows = sum(seen)
    alone = ng.evaluate(model, loss_fn, x, y, **options)
    found[name] = {"together": together, "alone": alone, "rows": comm.gather(rows)}
if comm.rank == 0:
    Path(sys.argv[1]).write_text(json.dumps(found))
